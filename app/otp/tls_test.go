package otp

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deployex/app/internal/otp27"
	"deployex/app/otp/otptest"
	"deployex/app/otp/term"
)

// certDirs returns a fresh directory as the test sees it and as the node of
// kind sees it (chroot nodes see the chroot's /tmp).
func certDirs(t *testing.T, kind otptest.Kind, name string) (host, node string) {
	t.Helper()
	if kind == otptest.OTP25 {
		d := filepath.Join(t.TempDir(), name)
		return d, d
	}
	inner, err := os.MkdirTemp(filepath.Join(otp27.Root(t), "tmp"), "deployex-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(inner) })
	rel, _ := filepath.Rel(otp27.Root(t), inner)
	return filepath.Join(inner, name), "/" + filepath.Join(rel, name)
}

// TestTLS runs nodes that accept only TLS distribution: deployex gets in with
// certificates from their CA, and is refused with a foreign CA or plain TCP.
func TestTLS(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			host, _ := ShortHostname()
			dir, nodeDir := certDirs(t, kind, "certs")
			if err := GenCerts(dir, []string{host, "localhost"}); err != nil {
				t.Fatal(err)
			}
			foreign, _ := certDirs(t, kind, "foreign")
			if err := GenCerts(foreign, []string{host}); err != nil {
				t.Fatal(err)
			}
			if err := WriteSSLDistOptFile(filepath.Join(dir, "ssl_dist.conf"), nodeDir); err != nil {
				t.Fatal(err)
			}
			good, err := LoadTLS(dir, host)
			if err != nil {
				t.Fatal(err)
			}
			bad, err := LoadTLS(foreign, host)
			if err != nil {
				t.Fatal(err)
			}

			f := newFixture(t, func(o *Options) { o.TLS = good })
			peer := f.beam(kind, "tlsnode", SSLDistArgs(filepath.Join(nodeDir, "ssl_dist.conf"))...).FullName()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := f.n.Probe(ctx, peer); err != nil {
				t.Fatalf("with the right certificates: %v", err)
			}
			v, err := f.n.Eval(ctx, peer, `net_kernel:nodes_info().`)
			if err != nil || !strings.Contains(term.Format(v), "tls, inet}") {
				t.Errorf("connection is not over TLS: %v %v", term.Format(v), err)
			}

			for name, cfg := range map[string]*Options{
				"deployex_foreign": {TLS: bad},
				"deployex_plain":   {},
			} {
				o := *cfg
				o.Name, o.Cookie, o.EPMDPort, o.HandshakeTimeout = name, f.cookie, f.port, time.Second
				other, err := Start(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				err = other.Connect(ctx, peer)
				other.Stop()
				if err == nil {
					t.Errorf("%s connected to a TLS-only node", name)
				}
			}
		})
	}
}

func TestGenCerts(t *testing.T) {
	dir := t.TempDir()
	if err := GenCerts(dir, []string{"myhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadTLS(dir, "myhost")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		DNSName:   "myhost",
		Roots:     cfg.RootCAs,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		t.Errorf("node certificate does not verify as server and client for myhost: %v", err)
	}
	if len(leaf.IPAddresses) != 1 || leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("SAN IPs %v, key %v", leaf.IPAddresses, leaf.PublicKeyAlgorithm)
	}
	exp, err := CertExpiry(dir)
	if err != nil || !exp.Equal(leaf.NotAfter) {
		t.Errorf("expiry %v, %v", exp, err)
	}
	for _, f := range []string{CAKey, KeyFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st.Mode(), err)
		}
	}
}
