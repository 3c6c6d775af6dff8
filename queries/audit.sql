-- name: AddAudit :exec
INSERT INTO audit_log (actor, action, target, result, detail) VALUES (?, ?, ?, ?, ?);

-- name: ListAudit :many
SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?;
