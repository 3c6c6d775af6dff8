// Package config reads deployex's settings from DEPLOYEX_* environment
// variables and an optional YAML file, and refuses bad values before anything
// is touched.
package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"deployex/app"
)

// Release adapters.
const (
	AdapterLocal = "local"
	AdapterS3    = "s3"
	AdapterGCS   = "gcp-storage"
)

// Secrets adapters.
const (
	SecretsEnv = "env"
	SecretsAWS = "aws"
	SecretsGCP = "gcp"
)

// LocalAdminHash is bcrypt("deployex"): the local-mode default admin password.
const LocalAdminHash = "$2a$10$A7unHf8ycyZJaIOsgUJyo.CjxstJORgkDkgzR.i.InK6ZZntDGKuW"

// LocalCookie is the local-mode default distribution cookie.
const LocalCookie = "cookie"

// Config is everything deployex needs to run.
type Config struct {
	Apps []app.Spec

	Environment    string // the {env} path segment; "local" means local mode
	ReleaseAdapter string
	ReleaseBucket  string
	S3Endpoint     string
	GCSEndpoint    string
	AWSRegion      string

	SecretsAdapter string
	SecretsPath    string

	HTTPHost       string
	HTTPPort       int
	BehindTLSProxy bool // trust X-Forwarded-Proto and mark cookies Secure
	SessionIdle    time.Duration
	SessionMax     time.Duration

	DataDir string
	logDir  string // empty: the seed's per-app default

	Cookie          string
	AdminHash       string
	SecretKeyBase   string
	OTPTLSCertPath  string
	OTPDistribution bool
	// HealthInterval is how often a stable replica is probed over
	// distribution, and how long one probe may take; HealthFailures probes
	// failed in a row get it killed and restarted (0: never).
	HealthInterval time.Duration
	HealthFailures int

	RestartBackoffInitial time.Duration
	RestartBackoffMax     time.Duration
	AppReady              time.Duration
	StopTimeout           time.Duration
	DeployMaxCrashes      int

	UnpackMaxFiles int
	UnpackMaxBytes int64

	// LogMaxBytes is the size at which a replica's log file is rotated (0:
	// never); LogKeep rotated files are kept beside it.
	LogMaxBytes int64
	LogKeep     int
}

// Local reports whether deployex runs in local mode, where default secrets are allowed.
func (c *Config) Local() bool { return c.Environment == "local" }

// LogDir is the folder holding the stdout/stderr files of every replica of appName.
func (c *Config) LogDir(appName string) string {
	switch {
	case c.logDir != "":
		return c.logDir + "/" + appName
	case c.Local():
		return "/tmp/" + appName + "/" + appName
	default:
		return "/var/log/" + appName
	}
}

// LogFile is the file replica n of appName writes stream ("stdout" or
// "stderr") to.
func (c *Config) LogFile(appName string, n int, stream string) string {
	return filepath.Join(c.LogDir(appName), app.NodeShortName(appName, n)+"-"+stream+".log")
}

// ServiceDir is where replica n of appName keeps its new/current/previous folders.
func (c *Config) ServiceDir(appName string, n int) string {
	return fmt.Sprintf("%s/service/%s/%d", c.serviceRoot(), appName, n)
}

func (c *Config) serviceRoot() string {
	if c.Local() {
		return c.DataDir + "/varlib"
	}
	return c.DataDir
}

// SSLDistOptFile is the ssl_dist_optfile deployex writes for the replicas'
// TLS distribution; "" when DEPLOYEX_OTP_TLS_CERT_PATH is not set.
func (c *Config) SSLDistOptFile() string {
	if c.OTPTLSCertPath == "" {
		return ""
	}
	return c.DataDir + "/otp/ssl_dist.conf"
}

// DBPath is the SQLite file, the single source of truth and the backup.
func (c *Config) DBPath() string { return c.DataDir + "/deployex.db" }

// App returns the spec of the named app.
func (c *Config) App(name string) (app.Spec, bool) {
	for _, a := range c.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return app.Spec{}, false
}

// Error names the variable and the value that stopped the program.
type Error struct {
	Var    string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s=%q: %s", e.Var, e.Value, e.Reason)
}

// Getenv looks a variable up; ok is false when it is unset.
type Getenv func(name string) (value string, ok bool)

// Load builds the configuration from the environment (and the YAML file it may name).
func Load(getenv Getenv) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{}
	c.Environment = r.str("DEPLOYEX_CLOUD_ENVIRONMENT", "local")
	if c.Environment != "" && !envRE.MatchString(c.Environment) {
		r.fail("DEPLOYEX_CLOUD_ENVIRONMENT", c.Environment, "use letters, digits, '-' or '_'")
	}
	local := c.Local()

	c.HTTPHost = r.str("DEPLOYEX_PHX_HOST", "localhost")
	c.HTTPPort = r.port("DEPLOYEX_PHX_PORT", 5001)
	c.BehindTLSProxy = r.boolean("DEPLOYEX_BEHIND_TLS_PROXY", false)
	c.SessionIdle = r.ms("DEPLOYEX_SESSION_IDLE_TIMEOUT_MS", 2*time.Hour)
	c.SessionMax = r.ms("DEPLOYEX_SESSION_LIFETIME_MS", 12*time.Hour)

	c.DataDir = r.str("DEPLOYEX_DATA_DIR", ifElse(local, "/tmp/deployex", "/var/lib/deployex"))
	c.logDir = strings.TrimRight(r.str("DEPLOYEX_LOG_DIR", ""), "/")

	c.ReleaseAdapter = r.oneOf("DEPLOYEX_RELEASE_ADAPTER", AdapterLocal, AdapterLocal, AdapterS3, AdapterGCS)
	c.S3Endpoint = r.str("DEPLOYEX_S3_ENDPOINT", "")
	c.GCSEndpoint = r.str("DEPLOYEX_GCS_ENDPOINT", "")
	c.AWSRegion = r.str("AWS_REGION", "")
	c.SecretsAdapter = r.oneOf("DEPLOYEX_SECRETS_ADAPTER", SecretsEnv, SecretsEnv, SecretsAWS, SecretsGCP)
	c.SecretsPath = r.str("DEPLOYEX_SECRETS_PATH", "")
	if c.SecretsAdapter != SecretsEnv && c.SecretsPath == "" {
		r.fail("DEPLOYEX_SECRETS_PATH", "", "required when DEPLOYEX_SECRETS_ADAPTER is "+c.SecretsAdapter)
	}

	c.Cookie = r.str("DEPLOYEX_ERLANG_COOKIE", LocalCookie)
	c.AdminHash = r.str("DEPLOYEX_ADMIN_HASHED_PASSWORD", LocalAdminHash)
	c.SecretKeyBase = r.str("DEPLOYEX_SECRET_KEY_BASE", "")
	c.OTPTLSCertPath = r.str("DEPLOYEX_OTP_TLS_CERT_PATH", "")
	c.OTPDistribution = r.boolean("DEPLOYEX_OTP_DISTRIBUTION", true)
	if c.OTPTLSCertPath != "" && strings.ContainsAny(c.DataDir, " \t\n") {
		// The ssl_dist_optfile lives there, and vm.args and
		// ELIXIR_ERL_OPTIONS split their flags on white space.
		r.fail("DEPLOYEX_DATA_DIR", c.DataDir, "must not contain white space when DEPLOYEX_OTP_TLS_CERT_PATH is set")
	}
	// Below 100 ms a probe's own round trip and a garbage collection on the
	// node would count as failures.
	c.HealthInterval = time.Duration(r.integer("DEPLOYEX_HEALTH_CHECK_INTERVAL_MS", 2000, 100, 1<<31-1)) * time.Millisecond
	c.HealthFailures = r.integer("DEPLOYEX_HEALTH_CHECK_FAILURES", 3, 0, 1000)

	c.RestartBackoffInitial = r.ms("DEPLOYEX_RESTART_BACKOFF_INITIAL_MS", time.Second)
	c.RestartBackoffMax = r.ms("DEPLOYEX_RESTART_BACKOFF_MAX_MS", 300*time.Second)
	c.AppReady = r.ms("DEPLOYEX_APP_READY_MS", 30*time.Second)
	c.StopTimeout = r.ms("DEPLOYEX_STOP_TIMEOUT_MS", 10*time.Second)
	c.DeployMaxCrashes = r.positive("DEPLOYEX_DEPLOY_MAX_CRASHES", 3)
	c.UnpackMaxFiles = r.positive("DEPLOYEX_UNPACK_MAX_FILES", 100000)
	c.UnpackMaxBytes = int64(r.positive("DEPLOYEX_UNPACK_MAX_MB", 4096)) << 20
	c.LogMaxBytes = int64(r.integer("DEPLOYEX_LOG_MAX_MB", 100, 0, 1<<20)) << 20
	c.LogKeep = r.integer("DEPLOYEX_LOG_KEEP", 5, 0, 100)
	if c.RestartBackoffMax < c.RestartBackoffInitial {
		r.fail("DEPLOYEX_RESTART_BACKOFF_MAX_MS", strconv.FormatInt(c.RestartBackoffMax.Milliseconds(), 10),
			"must not be below DEPLOYEX_RESTART_BACKOFF_INITIAL_MS")
	}

	defaults := appDefaults{
		rollback: r.ms("DEPLOYEX_DEPLOY_TIMEOUT_ROLLBACK_MS", 10*time.Minute),
		interval: r.ms("DEPLOYEX_DEPLOY_SCHEDULE_INTERVAL_MS", 5*time.Second),
	}
	if path, ok := getenv("DEPLOYEX_CONFIG_YAML_PATH"); ok && path != "" {
		if r.err == nil {
			r.err = loadYAML(path, c, &r, defaults)
		}
	} else {
		c.Apps = []app.Spec{r.envApp(defaults)}
	}
	if c.ReleaseBucket == "" {
		c.ReleaseBucket = r.str("DEPLOYEX_RELEASE_BUCKET", "")
	}
	if c.ReleaseBucket == "" && r.err == nil {
		if c.ReleaseAdapter != AdapterLocal || len(c.Apps) == 0 {
			r.fail("DEPLOYEX_RELEASE_BUCKET", "", "required for the "+c.ReleaseAdapter+" adapter")
		} else {
			c.ReleaseBucket = "/tmp/" + c.Apps[0].Name
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// CheckSecrets refuses the local defaults outside local mode. It runs after the
// secrets adapter has had its say.
func (c *Config) CheckSecrets() error {
	if c.Local() {
		return nil
	}
	if c.AdminHash == LocalAdminHash {
		return &Error{"DEPLOYEX_ADMIN_HASHED_PASSWORD", "(default)", "the local default password is refused outside local mode"}
	}
	if c.Cookie == LocalCookie || c.Cookie == "" {
		return &Error{"DEPLOYEX_ERLANG_COOKIE", c.Cookie, "the local default cookie is refused outside local mode"}
	}
	return nil
}

type appDefaults struct{ rollback, interval time.Duration }

func (r *reader) envApp(d appDefaults) app.Spec {
	name := r.str("DEPLOYEX_MONITORED_APP_NAME", "myphoenixapp")
	if err := app.ValidName(name); err != nil {
		r.fail("DEPLOYEX_MONITORED_APP_NAME", name, err.Error())
	}
	langStr := r.str("DEPLOYEX_MONITORED_APP_LANG", "elixir")
	lang, err := app.ParseLanguage(langStr)
	if err != nil {
		r.fail("DEPLOYEX_MONITORED_APP_LANG", langStr, err.Error())
	}
	return app.Spec{
		Name:                   name,
		Language:               lang,
		Replicas:               r.positive("DEPLOYEX_MONITORED_REPLICAS", 3),
		Ports:                  []app.PortSpec{{Key: "PORT", Base: r.port("DEPLOYEX_MONITORED_APP_PORT", 4000)}},
		DeployRollbackTimeout:  d.rollback,
		DeployScheduleInterval: d.interval,
	}
}

// reader keeps the first error so Load reads straight through.
type reader struct {
	getenv Getenv
	err    error
}

func (r *reader) fail(name, value, reason string) {
	if r.err == nil {
		r.err = &Error{Var: name, Value: value, Reason: reason}
	}
}

func (r *reader) str(name, def string) string {
	if v, ok := r.getenv(name); ok && v != "" {
		return v
	}
	return def
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := r.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, v, "want one of "+strings.Join(allowed, ", "))
	return def
}

func (r *reader) integer(name string, def, min, max int) int {
	v, ok := r.getenv(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		r.fail(name, v, "not an integer")
		return def
	}
	if n < min || n > max {
		r.fail(name, v, fmt.Sprintf("must be between %d and %d", min, max))
		return def
	}
	return n
}

func (r *reader) positive(name string, def int) int { return r.integer(name, def, 1, 1<<31-1) }
func (r *reader) port(name string, def int) int     { return r.integer(name, def, 1, 65535) }

func (r *reader) ms(name string, def time.Duration) time.Duration {
	return time.Duration(r.integer(name, int(def.Milliseconds()), 1, 1<<31-1)) * time.Millisecond
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.getenv(name)
	if !ok || v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "want true or false")
		return def
	}
	return b
}

func ifElse[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}
