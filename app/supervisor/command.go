package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"deployex/app"
)

// errNotDeployed: the replica has no current/ folder yet, or one the
// deployer holds, so there is nothing to start until the deployer puts a
// ready release there and calls Start.
var errNotDeployed = errors.New("nothing deployed")

// HoldFile in a release folder keeps the supervisor from starting it: the
// deployer puts it there before the folder becomes current/ and removes it
// once the release's pre_commands ran, so a deployex that dies in between
// never boots a release whose migrations did not run.
const HoldFile = ".deployex-hold"

// startCommand is the argv that runs replica n of spec from dir (its
// current/ folder), in the foreground, as each kind of release expects.
// tlsFlags are the erl flags of TLS distribution (nil without it): Gleam
// gets them on erl's command line, releases through childEnv.
func startCommand(spec app.Spec, n int, dir, cookie string, tlsFlags []string) ([]string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", errNotDeployed, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, HoldFile)); err == nil {
		return nil, fmt.Errorf("%w: the deployment to %s did not finish (%s)", errNotDeployed, dir, HoldFile)
	}
	switch spec.Language {
	case app.Elixir:
		bin := filepath.Join(dir, "bin", spec.Name)
		return []string{bin, "start"}, executable(bin)
	case app.Erlang:
		bin := relxScript(dir, spec.Name)
		return []string{bin, "foreground"}, executable(bin)
	case app.Gleam:
		return gleamCommand(spec.Name, app.NodeShortName(spec.Name, n), dir, cookie, tlsFlags)
	}
	return nil, fmt.Errorf("unknown language %q", spec.Language)
}

// relxScript picks the start script of the release version named in
// releases/start_erl.data: relx's bin/<app> has its version baked in, so
// after a hot upgrade made permanent only bin/<app>-<vsn> boots the new one.
func relxScript(dir, name string) string {
	plain := filepath.Join(dir, "bin", name)
	data, err := os.ReadFile(filepath.Join(dir, "releases", "start_erl.data"))
	if err != nil {
		return plain
	}
	f := strings.Fields(string(data)) // "ERTS_VSN REL_VSN"
	if len(f) != 2 || strings.ContainsAny(f[1], `/\`) {
		return plain
	}
	versioned := filepath.Join(dir, "bin", name+"-"+f[1])
	if executable(versioned) != nil {
		return plain
	}
	return versioned
}

// gleamCommand runs an erlang-shipment the way its entrypoint.sh does, with
// the `-pa <root>/*/ebin` glob expanded here, plus distribution flags.
func gleamCommand(name, node, dir, cookie string, tlsFlags []string) ([]string, error) {
	if fi, err := os.Stat(filepath.Join(dir, name, "ebin")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is not an erlang-shipment of %s: no %s/ebin", dir, name, name)
	}
	erl, err := exec.LookPath("erl")
	if err != nil {
		return nil, fmt.Errorf("gleam apps run on the host's Erlang: %w", err)
	}
	ebins, err := filepath.Glob(filepath.Join(dir, "*", "ebin"))
	if err != nil {
		return nil, err
	}
	argv := append([]string{erl, "-pa"}, ebins...)
	argv = append(argv, "-eval", name+"@@main:run("+name+")", "-noshell",
		"-sname", node, "-setcookie", cookie)
	return append(argv, tlsFlags...), nil
}

// executable explains why path cannot be started, if it cannot.
func executable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s is missing", path)
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not executable (mode %v)", path, fi.Mode().Perm())
	}
	return nil
}

// Variables deployex's own environment may hold that would steer a release
// somewhere else: release-script knobs (Elixir, relx), flags every erl
// picks up, systemd's handles meant for deployex, and deployex's secrets.
var (
	dropExact = map[string]bool{
		"BINDIR": true, "ROOTDIR": true, "EMU": true, "PROGNAME": true, "ELIXIR_ERL_OPTIONS": true,
		"ERL_FLAGS": true, "ERL_AFLAGS": true, "ERL_ZFLAGS": true, "ERL_LIBS": true, "ERL_DIST_PORT": true,
		"REL_NAME": true, "REL_VSN": true, "ERTS_VSN": true, "VMARGS_PATH": true, "CODE_LOADING_MODE": true,
		"RUNNER_LOG_DIR": true, "PIPE_DIR": true, "ESCRIPT_NAME": true,
		"NOTIFY_SOCKET": true, "LISTEN_FDS": true, "LISTEN_PID": true, "LISTEN_FDNAMES": true,
		"WATCHDOG_PID": true, "WATCHDOG_USEC": true,
	}
	dropPrefixes = []string{"RELEASE_", "RELX_", "HEART_", "DEPLOYEX_"}
)

// childEnv is base cleaned of what would confuse a release, then the
// replica's node, cookie and ports, then the app's own configured variables
// (later entries win). With TLS distribution, RELEASE_SSL_OPTIONS carries
// tlsFlags: a relx app's vm.args.src reads ${RELEASE_SSL_OPTIONS}, an Elixir
// app's env.sh adds it to ELIXIR_ERL_OPTIONS; an app that does neither keeps
// plain distribution and deployex's TLS node cannot reach it.
func childEnv(base []string, spec app.Spec, n int, cookie string, tlsFlags []string) []string {
	env := make([]string, 0, len(base)+8+len(spec.Env))
	for _, kv := range base {
		if !dropped(kv) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"RELEASE_NODE="+app.NodeShortName(spec.Name, n),
		"RELEASE_COOKIE="+cookie,
		"RELEASE_DISTRIBUTION=sname",
		"RELX_REPLACE_OS_VARS=true")
	if len(tlsFlags) > 0 {
		env = append(env, "RELEASE_SSL_OPTIONS="+strings.Join(tlsFlags, " "))
	}
	env = append(env, spec.PortEnv(n)...)
	for _, e := range spec.Env {
		env = append(env, e.Key+"="+e.Value)
	}
	return env
}

func dropped(kv string) bool {
	key, _, _ := strings.Cut(kv, "=")
	if dropExact[key] {
		return true
	}
	for _, p := range dropPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}
