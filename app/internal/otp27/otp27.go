// Package otp27 gives tests an Erlang/OTP 27 + Elixir 1.18 installation: a
// Debian trixie chroot created once by create.sh and cached outside the
// repository. The chroot shares the host's network, so nodes inside talk to
// nodes and epmd on the host.
package otp27

import (
	"bytes"
	_ "embed"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// DefaultRoot is where the chroot is cached; DEPLOYEX_OTP27_ROOT overrides it.
const DefaultRoot = "/var/cache/deployex-otp27"

//go:embed create.sh
var createScript []byte

var (
	once    sync.Once
	root    string
	rootErr string
)

// Root returns the chroot, creating it on first use (about 25 s and 300 MB
// from the Debian mirror). A test that needs OTP 27 fails, never skips, when
// the chroot cannot be made: the failure says why (not root, no debootstrap,
// no mirror).
func Root(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		dir := os.Getenv("DEPLOYEX_OTP27_ROOT")
		if dir == "" {
			dir = DefaultRoot
		}
		// create.sh is cheap when the tree exists: it only checks the
		// stamp, /etc/hosts and the /proc mount.
		cmd := exec.Command("bash", "-s", "--", dir)
		cmd.Stdin = bytes.NewReader(createScript)
		if out, err := cmd.CombinedOutput(); err != nil {
			rootErr = "otp27 chroot unavailable: " + err.Error() + "\n" + string(out)
			return
		}
		root = dir
	})
	if rootErr != "" {
		t.Fatal(rootErr)
	}
	return root
}

// Command returns a command that runs name inside the chroot. Its
// environment is the caller's (ERL_EPMD_PORT, HOME, ...), as with any chroot.
func Command(root, name string, args ...string) *exec.Cmd {
	return exec.Command("chroot", append([]string{root, name}, args...)...)
}
