package db

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestMigrationsApplyOnceAndRecord(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "deployex.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, CreateUserParams{Username: "u", PasswordHash: "h", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path) // a second open must not re-run 0001 (it would fail on CREATE TABLE)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n, v int
	s.DB.QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v)
	list, _ := embeddedMigrations()
	if n != len(list) || v != list[len(list)-1].version {
		t.Fatalf("recorded %d migrations up to %d, embedded %d", n, v, len(list))
	}
	var mode string
	var fk int
	s.DB.QueryRow("PRAGMA journal_mode").Scan(&mode)
	s.DB.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	if mode != "wal" || fk != 1 {
		t.Fatalf("journal_mode %s foreign_keys %d", mode, fk)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := s.CreateUser(ctx, CreateUserParams{Username: "x", PasswordHash: "h", Role: "root"}); err == nil {
		t.Fatal("the role CHECK constraint must refuse unknown roles")
	}
	if err := s.Backup(ctx, path); err == nil {
		t.Fatal("backup must refuse to overwrite a file")
	}
}
