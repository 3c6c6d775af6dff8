-- name: CreateToken :one
INSERT INTO api_tokens (name, token_hash, role) VALUES (?, ?, ?) RETURNING *;

-- name: GetActiveToken :one
SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL;

-- name: TouchToken :exec
UPDATE api_tokens SET last_used_at = CURRENT_TIMESTAMP WHERE id = ?;

-- name: ListTokens :many
SELECT * FROM api_tokens ORDER BY name;

-- name: RevokeToken :execrows
UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP WHERE name = ? AND revoked_at IS NULL;
