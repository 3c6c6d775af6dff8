package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"deployex/app/auth"
)

func run(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), Env{Args: args, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	return code, out.String(), errb.String()
}

func TestBadConfigExitsTwoBeforeTouchingAnything(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	code, _, stderr := run(t, "", map[string]string{"DEPLOYEX_DATA_DIR": data, "DEPLOYEX_MONITORED_REPLICAS": "lots"}, "serve")
	if code != 2 || !strings.Contains(stderr, "DEPLOYEX_MONITORED_REPLICAS") || !strings.Contains(stderr, "lots") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatal("a bad configuration must not create the data folder")
	}
}

func TestProductionRefusesDefaultSecrets(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	code, _, stderr := run(t, "", map[string]string{"DEPLOYEX_DATA_DIR": data, "DEPLOYEX_CLOUD_ENVIRONMENT": "prod",
		"DEPLOYEX_RELEASE_BUCKET": t.TempDir()})
	if code != 2 || !strings.Contains(stderr, "DEPLOYEX_ADMIN_HASHED_PASSWORD") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = run(t, "", map[string]string{"DEPLOYEX_DATA_DIR": data, "DEPLOYEX_ADMIN_HASHED_PASSWORD": "plain-text"})
	if code != 2 || !strings.Contains(stderr, "bcrypt") {
		t.Fatalf("a non-bcrypt admin hash: exit %d, stderr %q", code, stderr)
	}
}

func TestHashPasswordReadsStdin(t *testing.T) {
	code, out, _ := run(t, "correct horse\n", nil, "hash-password")
	if code != 0 || !auth.CheckPassword(strings.TrimSpace(out), "correct horse") {
		t.Fatalf("exit %d, out %q", code, out)
	}
	if code, _, stderr := run(t, "short\n", nil, "hash-password"); code != 2 || !strings.Contains(stderr, "too short") {
		t.Fatalf("short password: exit %d %q", code, stderr)
	}
	if code, _, _ := run(t, "", nil, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code, out, _ := run(t, "", nil, "version"); code != 0 || !strings.HasPrefix(out, "deployex ") {
		t.Fatalf("version: %d %q", code, out)
	}
}
