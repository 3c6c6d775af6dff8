-- name: EnsureApp :exec
INSERT INTO apps (name, language) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET language = excluded.language;

-- name: ListApps :many
SELECT * FROM apps ORDER BY name;

-- name: GetApp :one
SELECT * FROM apps WHERE name = ?;

-- name: SetAppMode :exec
UPDATE apps SET mode = ?, manual_version = ?, updated_at = CURRENT_TIMESTAMP WHERE name = ?;

-- name: EnsureInstance :exec
INSERT INTO instances (app, instance, port) VALUES (?, ?, ?)
ON CONFLICT (app, instance) DO UPDATE SET port = excluded.port;

-- name: DeleteInstancesAbove :exec
-- Replicas beyond the configured count are forgotten when the count shrinks.
DELETE FROM instances WHERE app = ? AND instance > ?;

-- name: ListInstances :many
SELECT * FROM instances WHERE app = ? ORDER BY instance;

-- name: ListAllInstances :many
SELECT * FROM instances ORDER BY app, instance;

-- name: GetInstance :one
SELECT * FROM instances WHERE app = ? AND instance = ?;

-- name: SaveInstanceProcess :exec
UPDATE instances SET status = ?, version = ?, os_pid = ?, pid_start_ticks = ?, started_at = ?,
    last_error = ?, updated_at = CURRENT_TIMESTAMP
WHERE app = ? AND instance = ?;

-- name: SetInstanceStatus :exec
UPDATE instances SET status = ?, last_error = ?, updated_at = CURRENT_TIMESTAMP
WHERE app = ? AND instance = ?;

-- name: IncrementCrashRestarts :one
UPDATE instances SET crash_restarts = crash_restarts + 1, updated_at = CURRENT_TIMESTAMP
WHERE app = ? AND instance = ? RETURNING crash_restarts;

-- name: IncrementForcedRestarts :one
UPDATE instances SET forced_restarts = forced_restarts + 1, updated_at = CURRENT_TIMESTAMP
WHERE app = ? AND instance = ? RETURNING forced_restarts;

-- name: SetInstanceVersion :exec
UPDATE instances SET version = ?, updated_at = CURRENT_TIMESTAMP WHERE app = ? AND instance = ?;
