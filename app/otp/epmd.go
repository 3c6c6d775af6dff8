package otp

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// EPMDRunning reports whether an epmd answers a NAMES request on the local port.
func EPMDRunning(port int) bool {
	_, err := EPMDNames(port)
	return err == nil
}

// EPMDNames returns epmd's NAMES answer ("name X at port P" lines).
func EPMDNames(port int) (string, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	// NAMES_REQ: length 1, tag 110. The answer is epmd's port (4 bytes) and text.
	if _, err := c.Write([]byte{0, 1, 110}); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	if len(b) < 4 || int(binary.BigEndian.Uint32(b)) != port {
		return "", fmt.Errorf("otp: port %d does not answer like epmd", port)
	}
	return string(b[4:]), nil
}

// EnsureEPMD makes sure an epmd listens on port, starting `bin -daemon` when
// none does. bin is an epmd executable: the host's ("epmd", looked up in
// PATH) or a release's own (FindEPMD). epmd daemonises and outlives deployex,
// as it does when a release starts it, so nodes stay reachable across
// deployex restarts.
func EnsureEPMD(ctx context.Context, port int, bin string) error {
	if EPMDRunning(port) {
		return nil
	}
	if bin == "" {
		bin = "epmd"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Errorf("otp: no epmd on port %d and none to start: %w", port, err)
	}
	cmd := exec.CommandContext(ctx, path, "-daemon", "-port", strconv.Itoa(port))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("otp: %s -daemon -port %d: %w: %s", path, port, err, out)
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if EPMDRunning(port) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("otp: started %s but nothing answers on port %d", path, port)
}

// FindEPMD returns the epmd shipped in a release (root/erts-*/bin/epmd; a
// release holds one ERTS), or "" when the release has none.
func FindEPMD(releaseRoot string) string {
	matches, _ := filepath.Glob(filepath.Join(releaseRoot, "erts-*", "bin", "epmd"))
	if len(matches) == 0 {
		return ""
	}
	return matches[0]
}
