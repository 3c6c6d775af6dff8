package cli

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"deployex/app/otp"
)

// hostList collects repeated --host flags.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Set(v string) error {
	if v == "" {
		return errors.New("empty host name")
	}
	*h = append(*h, v)
	return nil
}

// genCerts writes a CA and the node certificate deployex and its replicas
// share for mutual TLS distribution (see otp.GenCerts).
func genCerts(e Env, args []string) int {
	flags := flag.NewFlagSet("gen-certs", flag.ContinueOnError)
	flags.SetOutput(e.Stderr)
	var hosts hostList
	flags.Var(&hosts, "host", "a host name (or IP) the certificate is valid for; repeat for more (default: this host's short name)")
	force := flags.Bool("force", false, "replace an existing CA (every node must then get the new files)")
	// DIR may come before or after the flags.
	if err := flags.Parse(args); err != nil {
		return exitConfig
	}
	rest := flags.Args()
	if len(rest) > 0 {
		if err := flags.Parse(rest[1:]); err != nil {
			return exitConfig
		}
	}
	if len(rest) == 0 || flags.NArg() > 0 {
		fmt.Fprintln(e.Stderr, "usage: deployex gen-certs DIR [--host NAME]... [--force]")
		return exitConfig
	}
	dir := rest[0]
	if len(hosts) == 0 {
		h, err := otp.ShortHostname()
		if err != nil {
			fmt.Fprintln(e.Stderr, "deployex:", err)
			return exitFail
		}
		hosts = hostList{h}
	}
	// A new CA makes every certificate it signed before worthless: all nodes
	// would stop trusting each other at their next connection.
	if _, err := os.Stat(filepath.Join(dir, otp.CAFile)); err == nil && !*force {
		fmt.Fprintf(e.Stderr, "deployex: %s already holds a CA; use --force to replace it\n", dir)
		return exitFail
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(e.Stderr, "deployex:", err)
		return exitFail
	}
	if err := otp.GenCerts(dir, hosts); err != nil {
		fmt.Fprintln(e.Stderr, "deployex:", err)
		return exitFail
	}
	expiry, err := otp.CertExpiry(dir)
	if err != nil {
		fmt.Fprintln(e.Stderr, "deployex:", err)
		return exitFail
	}
	fmt.Fprintf(e.Stdout, "wrote %s, %s, %s and %s to %s\n", otp.CAFile, otp.CAKey, otp.CertFile, otp.KeyFile, dir)
	fmt.Fprintf(e.Stdout, "certificate for %s, valid until %s\n", hosts.String(), expiry.UTC().Format("2006-01-02"))
	fmt.Fprintf(e.Stdout, "set DEPLOYEX_OTP_TLS_CERT_PATH=%s; %s only signs new certificates: keep it off the servers\n", dir, otp.CAKey)
	return exitOK
}
