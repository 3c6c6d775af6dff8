-- What current.json said of the version each deployment installed, so a
-- manual pin to an older version runs the pre_commands and checks the
-- tarball digest it was first deployed with.
ALTER TABLE deployments ADD COLUMN pre_commands TEXT NOT NULL DEFAULT '[]'; -- JSON array of strings
ALTER TABLE deployments ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
