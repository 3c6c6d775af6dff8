package deployer

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/internal/fixture"
	"deployex/app/internal/otp27"
	"deployex/app/otp"
)

// TestHotUpgradeOTP27 hot-upgrades an Elixir 1.18 release on OTP 27, built
// and run inside the trixie chroot, through the deployer's own checks and
// deployex's OTP node on the host. The supervisor cannot run it (the
// release's erts needs trixie's glibc), so the test boots the release itself
// in the chroot; the rest is the hot path: hotUpgradable on the unpacked
// release, the snapshot, otp.HotUpgrade (RELEASES created at first install),
// then the same OS pid answering with the new code, and a cold boot of 2.0.0.
func TestHotUpgradeOTP27(t *testing.T) {
	t.Parallel()
	root := otp27.Root(t)
	v1 := fixture.Release(t, app.Elixir, "1.0.0", fixture.Variant{OTP27: true})
	v2 := fixture.Release(t, app.Elixir, "2.0.0", fixture.Variant{UpgradeFrom: "1.0.0", OTP27: true})
	f := folders{chrootDir(t, root)}
	fixture.Unpack(t, v1, f.current())
	fixture.Unpack(t, v2, f.new())
	if err := os.WriteFile(filepath.Join(f.current(), versionFile), []byte("1.0.0\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	spec := app.Spec{Name: "exfix", Language: app.Elixir}
	if err := hotUpgradable(spec, f.new(), "1.0.0", "2.0.0"); err != nil {
		t.Fatalf("the OTP 27 release is not hot-upgradable: %v", err)
	}

	epmd, port := fixture.PrivateEPMD(t), fixture.FreePorts(t, 1)
	cookie := "c" + strconv.FormatUint(rand.Uint64(), 36)
	name := "exfix27-" + strconv.Itoa(port)
	boot := func() *exec.Cmd {
		cmd := otp27.Command(root, "env", "-C", f.current(), "bin/exfix", "start")
		cmd.Env = append(os.Environ(), "HOME=/tmp", "PORT="+strconv.Itoa(port), "ERL_EPMD_PORT="+strconv.Itoa(epmd),
			"RELEASE_NODE="+name, "RELEASE_COOKIE="+cookie, "RELEASE_DISTRIBUTION=sname")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kill(cmd) })
		fixture.WaitCall(t, port, "version", 30*time.Second)
		return cmd
	}
	cmd := boot()
	pid, _ := fixture.Call(port, "os_pid")

	n, err := otp.Start(context.Background(), otp.Options{Cookie: cookie, EPMDPort: epmd,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	host, err := otp.ShortHostname()
	if err != nil {
		t.Fatal(err)
	}
	node := name + "@" + host
	if err := n.Probe(context.Background(), node); err != nil {
		t.Fatalf("probe the OTP 27 node: %v", err)
	}
	if err := f.snapshot(); err != nil {
		t.Fatal(err)
	}
	var steps []otp.Step
	err = n.HotUpgrade(context.Background(), node, otp.Release{Root: f.current(), Name: "exfix", Version: "2.0.0", Tarball: v2},
		func(s otp.Step, err error) { steps = append(steps, s) })
	if err != nil {
		t.Fatalf("hot upgrade on OTP 27: %v (steps %v)", err, steps)
	}
	if got, _ := fixture.Call(port, "os_pid"); got != pid {
		t.Fatalf("the OS pid changed from %s to %s", pid, got)
	}
	for _, c := range []string{"version", "code_version"} {
		if got, _ := fixture.Call(port, c); got != "2.0.0" {
			t.Fatalf("%s answers %q after the upgrade, want 2.0.0", c, got)
		}
	}
	if err := f.settleHot("2.0.0"); err != nil {
		t.Fatal(err)
	}

	kill(cmd)
	boot()
	for _, c := range []string{"version", "code_version"} {
		if got, _ := fixture.Call(port, c); got != "2.0.0" {
			t.Fatalf("%s answers %q after a cold boot, want 2.0.0", c, got)
		}
	}
}

// chrootDir returns a fresh folder inside the chroot whose host path also
// names it inside the chroot, as deployex's files and the node's
// code:root_dir() must agree (they do on one host): a link in the chroot
// from the chroot's own host path to its root makes both views meet.
func chrootDir(t *testing.T, root string) string {
	t.Helper()
	link := filepath.Join(root, root)
	if target, err := os.Readlink(link); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/", link); err != nil && !errors.Is(err, fs.ErrExist) {
			t.Fatal(err)
		}
	} else if err != nil || target != "/" {
		t.Fatalf("%s exists and is not a link to /: %q %v", link, target, err)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "tmp"), "deployex-hot27-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// kill ends a release started in its own process group and reaps it.
func kill(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
}
