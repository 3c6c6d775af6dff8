-- name: StartDeployment :one
INSERT INTO deployments (app, version, hash, instance, kind, trigger, pre_commands, sha256)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id;

-- name: ReleaseOfVersion :one
-- How the version was described when it was last deployed from the bucket
-- (a rollback row only names the folder it went back to).
SELECT hash, pre_commands, sha256 FROM deployments
WHERE app = ? AND version = ? AND kind != 'rollback'
ORDER BY id DESC LIMIT 1;

-- name: FinishDeployment :exec
UPDATE deployments SET finished_at = CURRENT_TIMESTAMP, result = ?, error = ? WHERE id = ?;

-- name: ListDeployments :many
SELECT * FROM deployments WHERE app = ? ORDER BY id DESC LIMIT ?;

-- name: ListInstanceDeployments :many
SELECT * FROM deployments WHERE app = ? AND instance = ? ORDER BY id DESC LIMIT ?;

-- name: LastDeploymentPerInstance :many
-- Each replica's newest deployment row, for the dashboard's cards.
SELECT d.* FROM deployments AS d
WHERE d.id IN (SELECT MAX(l.id) FROM deployments AS l WHERE l.app = ? GROUP BY l.instance)
ORDER BY d.instance;

-- name: ListGhosts :many
SELECT * FROM ghosts WHERE app = ? ORDER BY created_at DESC, version;

-- name: AddGhost :exec
INSERT INTO ghosts (app, version, reason) VALUES (?, ?, ?) ON CONFLICT (app, version) DO NOTHING;

-- name: IsGhosted :one
SELECT EXISTS (SELECT 1 FROM ghosts WHERE app = ? AND version = ?);

-- name: DeleteGhost :execrows
DELETE FROM ghosts WHERE app = ? AND version = ?;

-- name: DeleteAllGhosts :execrows
DELETE FROM ghosts WHERE app = ?;

-- name: ListHistoryVersions :many
-- Versions that reached at least one replica, newest first, for the set-version picker.
SELECT version, MAX(id) AS last_id FROM deployments
WHERE app = ? AND kind != 'rollback' AND result = 'ok'
GROUP BY version ORDER BY last_id DESC LIMIT 100;

-- name: FinishRunningDeployments :exec
-- Attempts a previous deployex left open when it stopped.
UPDATE deployments SET finished_at = CURRENT_TIMESTAMP, result = 'failed',
    error = 'interrupted: deployex stopped during the deployment'
WHERE app = ? AND result = 'running';
