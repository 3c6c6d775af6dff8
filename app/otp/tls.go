package otp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files in a certificate directory (DEPLOYEX_OTP_TLS_CERT_PATH).
const (
	CAFile   = "ca.crt"
	CAKey    = "ca.key"
	CertFile = "deployex.crt"
	KeyFile  = "deployex.key"
)

// GenCerts writes a new CA (ca.crt, ca.key) and a node certificate signed by
// it (deployex.crt, deployex.key) into dir: ECDSA P-256, usable as server and
// client, valid for hosts (DNS names or IP addresses). deployex and the
// replicas share the node certificate: they run on the same host and the
// distribution checks the peer's host name, not its node name.
func GenCerts(dir string, hosts []string) error {
	if len(hosts) == 0 {
		return errors.New("otp: gen certs: at least one host name is needed")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "deployex distribution CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}

	for _, f := range []struct {
		name, kind string
		der        []byte
		mode       os.FileMode
	}{
		{CAFile, "CERTIFICATE", caDER, 0o644},
		{CertFile, "CERTIFICATE", der, 0o644},
		{CAKey, "PRIVATE KEY", mustPKCS8(caKey), 0o600},
		{KeyFile, "PRIVATE KEY", mustPKCS8(key), 0o600},
	} {
		data := pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der})
		if err := os.WriteFile(filepath.Join(dir, f.name), data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func mustPKCS8(k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // cannot fail for a P-256 key
	}
	return b
}

// LoadTLS builds the TLS configuration of deployex's node from a certificate
// directory: its own certificate, and the CA to verify peers both ways
// (mutual TLS, as the replicas' ssl_dist_optfile demands). serverName is the
// host part of the replicas' node names: ergo dials that host, and the
// certificate must name it.
func LoadTLS(dir, serverName string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("otp: TLS certificate: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("otp: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("otp: no certificate in %s", filepath.Join(dir, CAFile))
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// CertExpiry returns when the node certificate in dir expires.
func CertExpiry(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return time.Time{}, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return time.Time{}, fmt.Errorf("otp: %s is not PEM", CertFile)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, err
	}
	return c.NotAfter, nil
}

// WriteSSLDistOptFile writes the file replicas name in
// `-proto_dist inet_tls -ssl_dist_optfile FILE`: both sides present the
// node certificate and require a peer certificate from the same CA.
func WriteSSLDistOptFile(path, certDir string) error {
	abs, err := filepath.Abs(certDir)
	if err != nil {
		return err
	}
	files := fmt.Sprintf(`{certfile, %s}, {keyfile, %s}, {cacertfile, %s}, {verify, verify_peer}, {secure_renegotiate, true}`,
		erlString(filepath.Join(abs, CertFile)), erlString(filepath.Join(abs, KeyFile)), erlString(filepath.Join(abs, CAFile)))
	content := fmt.Sprintf("[{server, [%s, {fail_if_no_peer_cert, true}]},\n {client, [%s]}].\n", files, files)
	return os.WriteFile(path, []byte(content), 0o644)
}

// SSLDistArgs are the erl flags that make a node use TLS distribution with optFile.
func SSLDistArgs(optFile string) []string {
	return []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", optFile}
}

// erlString quotes s as an Erlang string literal.
func erlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
