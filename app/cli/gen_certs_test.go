package cli

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGenCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	code, out, stderr := run(t, "", nil, "gen-certs", dir, "--host", "alpha", "--host", "10.0.0.7")
	if code != 0 || !strings.Contains(out, "DEPLOYEX_OTP_TLS_CERT_PATH="+dir) {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "deployex.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cert.DNSNames, []string{"alpha"}) || len(cert.IPAddresses) != 1 || cert.IPAddresses[0].String() != "10.0.0.7" {
		t.Errorf("SANs %v %v", cert.DNSNames, cert.IPAddresses)
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("key usages %v: the certificate serves both ends of a connection", cert.ExtKeyUsage)
	}
	if cert.NotAfter.Before(time.Now().AddDate(1, 0, 0)) {
		t.Errorf("expires %v", cert.NotAfter)
	}
	if fi, err := os.Stat(filepath.Join(dir, "deployex.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi.Mode(), err)
	}

	// A second run would replace the CA every node trusts: refused without --force.
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if code, _, stderr := run(t, "", nil, "gen-certs", "--host", "alpha", dir); code != 1 || !strings.Contains(stderr, "--force") {
		t.Fatalf("second run: exit %d %q", code, stderr)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); string(again) != string(ca) {
		t.Fatal("the refused run replaced the CA")
	}
	if code, _, stderr := run(t, "", nil, "gen-certs", "--force", dir); code != 0 {
		t.Fatalf("--force with the default host: exit %d %q", code, stderr)
	}
	for _, args := range [][]string{{"gen-certs"}, {"gen-certs", "a", "b"}, {"gen-certs", dir, "--host", ""}} {
		if code, _, _ := run(t, "", nil, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
