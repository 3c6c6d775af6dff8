package otp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"deployex/app/otp/otptest"
)

// TestHotUpgradeFailsCleanly drives the release_handler steps against a
// node whose release root is not the one given (the host's OTP install), so
// unpack_release cannot find the tarball: the error must name the step,
// report that nothing was installed, and the copied release must be gone.
// A full v1 → v2 upgrade needs release fixtures with appups (issue 5 follow-up).
func TestHotUpgradeFailsCleanly(t *testing.T) {
	f := newFixture(t, nil)
	peer := f.beam(otptest.OTP25, "rh", "-boot", "start_sasl").FullName()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "releases"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "releases", "RELEASES"), []byte("[]."), 0o644); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "app-2.0.0.tar.gz")
	if err := os.WriteFile(tarball, []byte("not a tarball"), 0o644); err != nil {
		t.Fatal(err)
	}

	var steps []Step
	err := f.n.HotUpgrade(context.Background(), peer, Release{Root: root, Name: "app", Version: "2.0.0", Tarball: tarball},
		func(s Step, err error) { steps = append(steps, s) })
	var ue *UpgradeError
	if !errors.As(err, &ue) || ue.Step != StepUnpack || ue.Installed() || !strings.Contains(err.Error(), "no_such_file") {
		t.Fatalf("got %v", err)
	}
	if len(steps) != 2 || steps[0] != StepCopy || steps[1] != StepUnpack {
		t.Errorf("progress %v", steps)
	}
	if _, err := os.Stat(filepath.Join(root, "releases", "2.0.0")); !os.IsNotExist(err) {
		t.Errorf("copied release left behind: %v", err)
	}
	if err := f.n.HotUpgrade(context.Background(), peer, Release{Root: root, Name: "app", Version: "..", Tarball: tarball}, nil); err == nil {
		t.Error("version .. accepted")
	}
}
