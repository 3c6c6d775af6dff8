package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"deployex/app"
)

func TestChildEnv(t *testing.T) {
	spec := app.Spec{Name: "shop", Ports: []app.PortSpec{{Key: "PORT", Base: 4000}, {Key: "ADMIN_PORT", Base: 5000}},
		Env: []app.EnvVar{{Key: "FEATURE", Value: "on"}}}
	base := []string{"PATH=/usr/bin", "HOME=/root", "ERL_EPMD_PORT=4400", "RELEASE_ROOT=/opt/deployex",
		"RELEASE_NODE=deployex", "BINDIR=/x", "ROOTDIR=/y", "ELIXIR_ERL_OPTIONS=-proto_dist inet_tls",
		"ERL_FLAGS=-sname x", "RELX_CONFIG_PATH=/z", "DEPLOYEX_ADMIN_HASHED_PASSWORD=secret", "NOTIFY_SOCKET=/run/n"}
	env := childEnv(base, spec, 2, "c00kie", nil)
	want := []string{"PATH=/usr/bin", "HOME=/root", "ERL_EPMD_PORT=4400",
		"RELEASE_NODE=shop-2", "RELEASE_COOKIE=c00kie", "RELEASE_DISTRIBUTION=sname", "RELX_REPLACE_OS_VARS=true",
		"PORT=4001", "ADMIN_PORT=5001", "FEATURE=on"}
	if !slices.Equal(env, want) {
		t.Errorf("childEnv:\n got %q\nwant %q", env, want)
	}
	tls := childEnv(base, spec, 2, "c00kie", []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", "/d/ssl.conf"})
	if !slices.Contains(tls, "RELEASE_SSL_OPTIONS=-proto_dist inet_tls -ssl_dist_optfile /d/ssl.conf") || len(tls) != len(want)+1 {
		t.Errorf("childEnv with TLS: %q", tls)
	}
}

func TestStartCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(path, body string, mode os.FileMode) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, path), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	erl := app.Spec{Name: "shop", Language: app.Erlang}
	if _, err := startCommand(erl, 1, filepath.Join(dir, "none"), "c", nil); err == nil || !strings.Contains(err.Error(), "nothing deployed") {
		t.Errorf("no current/: %v", err)
	}
	if _, err := startCommand(erl, 1, dir, "c", nil); err == nil || !strings.Contains(err.Error(), "bin/shop is missing") {
		t.Errorf("no bin/shop: %v", err)
	}
	write("bin/shop", "#!/bin/sh\n", 0o644)
	if _, err := startCommand(erl, 1, dir, "c", nil); err == nil || !strings.Contains(err.Error(), "bin/shop is not executable") {
		t.Errorf("bin/shop 0644: %v", err)
	}
	os.Chmod(filepath.Join(dir, "bin/shop"), 0o755)
	if argv, err := startCommand(erl, 1, dir, "c", nil); err != nil || !slices.Equal(argv, []string{dir + "/bin/shop", "foreground"}) {
		t.Errorf("erlang argv %q %v", argv, err)
	}
	// A folder the deployer holds is not started, whatever it holds.
	write(HoldFile, "", 0o600)
	if _, err := startCommand(erl, 1, dir, "c", nil); !errors.Is(err, errNotDeployed) || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("held folder: %v", err)
	}
	os.Remove(filepath.Join(dir, HoldFile))
	// After a hot upgrade made permanent, start_erl.data names the version to boot.
	write("releases/start_erl.data", "13.1.5 1.1.0\n", 0o644)
	write("bin/shop-1.1.0", "#!/bin/sh\n", 0o755)
	if argv, _ := startCommand(erl, 1, dir, "c", nil); argv[0] != dir+"/bin/shop-1.1.0" {
		t.Errorf("erlang after upgrade: %q", argv)
	}
	if argv, _ := startCommand(app.Spec{Name: "shop", Language: app.Elixir}, 1, dir, "c", nil); !slices.Equal(argv, []string{dir + "/bin/shop", "start"}) {
		t.Errorf("elixir argv %q", argv)
	}

	gleam := app.Spec{Name: "shop", Language: app.Gleam}
	if _, err := startCommand(gleam, 3, dir, "c", nil); err == nil || !strings.Contains(err.Error(), "no shop/ebin") {
		t.Errorf("gleam without its package: %v", err)
	}
	write("shop/ebin/shop.app", "", 0o644)
	write("gleam_stdlib/ebin/gleam_stdlib.app", "", 0o644)
	argv, err := startCommand(gleam, 3, dir, "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-pa", dir + "/gleam_stdlib/ebin", dir + "/shop/ebin",
		"-eval", "shop@@main:run(shop)", "-noshell", "-sname", "shop-3", "-setcookie", "c"}
	if !strings.HasSuffix(argv[0], "/erl") || !slices.Equal(argv[1:], want) {
		t.Errorf("gleam argv %q", argv)
	}
	tls := []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", "/d/ssl.conf"}
	if argv, _ := startCommand(gleam, 3, dir, "c", tls); !slices.Equal(argv[1:], append(want, tls...)) {
		t.Errorf("gleam argv with TLS %q", argv)
	}
}
