-- Users log in to the web UI; the admin account is seeded from configuration.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at    DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at    DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- scs sqlite3store's table: sessions survive a restart of deployex.
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- Bearer tokens for the JSON API; only a SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used_at DATETIME,
    revoked_at   DATETIME
);

-- One row per configured app: its deployment mode and pinned version.
CREATE TABLE apps (
    name           TEXT PRIMARY KEY,
    language       TEXT NOT NULL,
    mode           TEXT NOT NULL DEFAULT 'automatic' CHECK (mode IN ('automatic', 'manual')),
    manual_version TEXT NOT NULL DEFAULT '',
    updated_at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One row per replica: what the supervisor knows, so it can re-adopt after a restart.
CREATE TABLE instances (
    app             TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    instance        INTEGER NOT NULL CHECK (instance >= 1),
    status          TEXT NOT NULL DEFAULT 'idle',
    version         TEXT NOT NULL DEFAULT '',
    os_pid          INTEGER NOT NULL DEFAULT 0,
    pid_start_ticks INTEGER NOT NULL DEFAULT 0,
    port            INTEGER NOT NULL DEFAULT 0,
    crash_restarts  INTEGER NOT NULL DEFAULT 0,
    forced_restarts INTEGER NOT NULL DEFAULT 0,
    started_at      DATETIME,
    last_error      TEXT NOT NULL DEFAULT '',
    updated_at      DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (app, instance)
);

-- Version history: one row per replica per deployment attempt.
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY,
    app         TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    version     TEXT NOT NULL,
    hash        TEXT NOT NULL DEFAULT '',
    instance    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('full_deployment', 'hot_upgrade', 'rollback', 'manual')),
    trigger     TEXT NOT NULL CHECK (trigger IN ('poll', 'manual', 'rollback', 'user')),
    started_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    finished_at DATETIME,
    result      TEXT NOT NULL DEFAULT 'running' CHECK (result IN ('running', 'ok', 'failed', 'rolled_back')),
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deployments_app_idx ON deployments (app, id DESC);

-- Versions that were rolled back and must not be deployed again until cleared.
CREATE TABLE ghosts (
    app        TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    version    TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (app, version)
);

-- Who did what to which target, and how it went.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT 'ok',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at_idx ON audit_log (id DESC);
