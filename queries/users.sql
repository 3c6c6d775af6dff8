-- name: GetUserByName :one
SELECT * FROM users WHERE username = ?;

-- name: ListUsers :many
SELECT * FROM users ORDER BY username;

-- name: CreateUser :one
INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?) RETURNING *;

-- name: UpsertAdmin :exec
-- The configured admin's hash and role always win, so rotating the secret works.
INSERT INTO users (username, password_hash, role) VALUES (?, ?, 'admin')
ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = 'admin',
    updated_at = CURRENT_TIMESTAMP;

-- name: SetUserPassword :execrows
UPDATE users SET password_hash = ?, updated_at = CURRENT_TIMESTAMP WHERE username = ?;

-- name: DeleteUser :execrows
DELETE FROM users WHERE username = ?;

-- name: CountAdmins :one
SELECT COUNT(*) FROM users WHERE role = 'admin';
