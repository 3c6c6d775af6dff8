package config

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"deployex/app"
)

var (
	envRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// yamlFile is the subset of upstream deployex's YAML schema (0.9) that this
// program uses. Keys upstream has but we do not act on are accepted and ignored
// so an upstream file loads; any other key is a typo and refused.
type yamlFile struct {
	AccountName              string    `yaml:"account_name"`
	Hostname                 string    `yaml:"hostname"`
	Port                     int       `yaml:"port"`
	ReleaseAdapter           string    `yaml:"release_adapter"`
	ReleaseBucket            string    `yaml:"release_bucket"`
	SecretsAdapter           string    `yaml:"secrets_adapter"`
	SecretsPath              string    `yaml:"secrets_path"`
	AWSRegion                string    `yaml:"aws_region"`
	OTPTLSCertificates       string    `yaml:"otp_tls_certificates"`
	DeployRollbackTimeoutMS  *int      `yaml:"deploy_rollback_timeout_ms"`
	DeployScheduleIntervalMS *int      `yaml:"deploy_schedule_interval_ms"`
	Applications             []yamlApp `yaml:"applications"`

	Version         any `yaml:"version"`
	OTPVersion      any `yaml:"otp_version"`
	OSTarget        any `yaml:"os_target"`
	MetricsRetain   any `yaml:"metrics_retention_time_ms"`
	LogsRetain      any `yaml:"logs_retention_time_ms"`
	Monitoring      any `yaml:"monitoring"`
	InstallPath     any `yaml:"install_path"`
	Notifications   any `yaml:"notifications"`
	Authentication  any `yaml:"authentication"`
	DeployexVersion any `yaml:"deployex_version"`
}

type yamlApp struct {
	Name                     string     `yaml:"name"`
	Language                 string     `yaml:"language"`
	Replicas                 int        `yaml:"replicas"`
	InitialPort              int        `yaml:"initial_port"`
	ReplicaPorts             []yamlPort `yaml:"replica_ports"`
	Env                      []yamlEnv  `yaml:"env"`
	DeployRollbackTimeoutMS  *int       `yaml:"deploy_rollback_timeout_ms"`
	DeployScheduleIntervalMS *int       `yaml:"deploy_schedule_interval_ms"`
	Monitoring               any        `yaml:"monitoring"`
}

type yamlPort struct {
	Key  string `yaml:"key"`
	Base int    `yaml:"base"`
}

// yamlEnv takes upstream's `value: true` as well as strings and numbers.
type yamlEnv struct {
	Key   string    `yaml:"key"`
	Value yaml.Node `yaml:"value"`
}

func loadYAML(path string, c *Config, r *reader, d appDefaults) error {
	const v = "DEPLOYEX_CONFIG_YAML_PATH"
	raw, err := os.ReadFile(path)
	if err != nil {
		return &Error{v, path, err.Error()}
	}
	var f yamlFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return &Error{v, path, "invalid YAML: " + err.Error()}
	}
	fail := func(field, value, reason string) error {
		return &Error{v, path, fmt.Sprintf("%s=%q: %s", field, value, reason)}
	}
	// Environment variables win over the file so one value can be overridden at deploy time.
	setIfUnset := func(dst *string, env, val string) {
		if _, ok := r.getenv(env); !ok && val != "" {
			*dst = val
		}
	}
	setIfUnset(&c.ReleaseBucket, "DEPLOYEX_RELEASE_BUCKET", f.ReleaseBucket)
	setIfUnset(&c.SecretsPath, "DEPLOYEX_SECRETS_PATH", f.SecretsPath)
	setIfUnset(&c.AWSRegion, "AWS_REGION", f.AWSRegion)
	setIfUnset(&c.OTPTLSCertPath, "DEPLOYEX_OTP_TLS_CERT_PATH", f.OTPTLSCertificates)
	setIfUnset(&c.HTTPHost, "DEPLOYEX_PHX_HOST", f.Hostname)
	setIfUnset(&c.Environment, "DEPLOYEX_CLOUD_ENVIRONMENT", f.AccountName)
	if f.ReleaseAdapter != "" {
		if _, ok := r.getenv("DEPLOYEX_RELEASE_ADAPTER"); !ok {
			switch f.ReleaseAdapter {
			case AdapterLocal, AdapterS3, AdapterGCS:
				c.ReleaseAdapter = f.ReleaseAdapter
			default:
				return fail("release_adapter", f.ReleaseAdapter, "want local, s3 or gcp-storage")
			}
		}
	}
	if f.SecretsAdapter != "" {
		if _, ok := r.getenv("DEPLOYEX_SECRETS_ADAPTER"); !ok {
			switch f.SecretsAdapter {
			case SecretsEnv, SecretsAWS, SecretsGCP:
				c.SecretsAdapter = f.SecretsAdapter
			default:
				return fail("secrets_adapter", f.SecretsAdapter, "want env, aws or gcp")
			}
		}
	}
	if f.Port != 0 {
		if _, ok := r.getenv("DEPLOYEX_PHX_PORT"); !ok {
			if f.Port < 1 || f.Port > 65535 {
				return fail("port", strconv.Itoa(f.Port), "must be between 1 and 65535")
			}
			c.HTTPPort = f.Port
		}
	}
	if !envRE.MatchString(c.Environment) {
		return fail("account_name", c.Environment, "use letters, digits, '-' or '_'")
	}
	if f.DeployRollbackTimeoutMS != nil {
		if *f.DeployRollbackTimeoutMS <= 0 {
			return fail("deploy_rollback_timeout_ms", strconv.Itoa(*f.DeployRollbackTimeoutMS), "must be positive")
		}
		d.rollback = time.Duration(*f.DeployRollbackTimeoutMS) * time.Millisecond
	}
	if f.DeployScheduleIntervalMS != nil {
		if *f.DeployScheduleIntervalMS <= 0 {
			return fail("deploy_schedule_interval_ms", strconv.Itoa(*f.DeployScheduleIntervalMS), "must be positive")
		}
		d.interval = time.Duration(*f.DeployScheduleIntervalMS) * time.Millisecond
	}
	if len(f.Applications) == 0 {
		return fail("applications", "", "declare at least one application")
	}
	seen := map[string]bool{}
	for i, ya := range f.Applications {
		spec, err := ya.spec(d)
		if err != nil {
			return fail(fmt.Sprintf("applications[%d].%s", i, err.field), err.value, err.reason)
		}
		if seen[spec.Name] {
			return fail(fmt.Sprintf("applications[%d].name", i), spec.Name, "declared twice")
		}
		seen[spec.Name] = true
		c.Apps = append(c.Apps, spec)
	}
	return nil
}

type fieldError struct{ field, value, reason string }

func (ya yamlApp) spec(d appDefaults) (app.Spec, *fieldError) {
	if err := app.ValidName(ya.Name); err != nil {
		return app.Spec{}, &fieldError{"name", ya.Name, err.Error()}
	}
	lang, err := app.ParseLanguage(ya.Language)
	if err != nil {
		return app.Spec{}, &fieldError{"language", ya.Language, err.Error()}
	}
	if ya.Replicas < 1 || ya.Replicas > 1000 {
		return app.Spec{}, &fieldError{"replicas", strconv.Itoa(ya.Replicas), "must be between 1 and 1000"}
	}
	s := app.Spec{Name: ya.Name, Language: lang, Replicas: ya.Replicas,
		DeployRollbackTimeout: d.rollback, DeployScheduleInterval: d.interval}
	switch {
	case len(ya.ReplicaPorts) > 0 && ya.InitialPort != 0:
		return app.Spec{}, &fieldError{"initial_port", strconv.Itoa(ya.InitialPort), "use either initial_port or replica_ports"}
	case len(ya.ReplicaPorts) > 0:
		for _, p := range ya.ReplicaPorts {
			if !envKeyRE.MatchString(p.Key) {
				return app.Spec{}, &fieldError{"replica_ports.key", p.Key, "not a valid environment variable name"}
			}
			if p.Base < 1 || p.Base+ya.Replicas-1 > 65535 {
				return app.Spec{}, &fieldError{"replica_ports.base", strconv.Itoa(p.Base), "ports must stay between 1 and 65535"}
			}
			s.Ports = append(s.Ports, app.PortSpec{Key: p.Key, Base: p.Base})
		}
	default:
		if ya.InitialPort < 1 || ya.InitialPort+ya.Replicas-1 > 65535 {
			return app.Spec{}, &fieldError{"initial_port", strconv.Itoa(ya.InitialPort), "ports must stay between 1 and 65535"}
		}
		s.Ports = []app.PortSpec{{Key: "PORT", Base: ya.InitialPort}}
	}
	for _, e := range ya.Env {
		if !envKeyRE.MatchString(e.Key) {
			return app.Spec{}, &fieldError{"env.key", e.Key, "not a valid environment variable name"}
		}
		if e.Value.Kind != yaml.ScalarNode {
			return app.Spec{}, &fieldError{"env.value", e.Key, "must be a string, number or boolean"}
		}
		s.Env = append(s.Env, app.EnvVar{Key: e.Key, Value: e.Value.Value})
	}
	if ya.DeployRollbackTimeoutMS != nil {
		if *ya.DeployRollbackTimeoutMS <= 0 {
			return app.Spec{}, &fieldError{"deploy_rollback_timeout_ms", strconv.Itoa(*ya.DeployRollbackTimeoutMS), "must be positive"}
		}
		s.DeployRollbackTimeout = time.Duration(*ya.DeployRollbackTimeoutMS) * time.Millisecond
	}
	if ya.DeployScheduleIntervalMS != nil {
		if *ya.DeployScheduleIntervalMS <= 0 {
			return app.Spec{}, &fieldError{"deploy_schedule_interval_ms", strconv.Itoa(*ya.DeployScheduleIntervalMS), "must be positive"}
		}
		s.DeployScheduleInterval = time.Duration(*ya.DeployScheduleIntervalMS) * time.Millisecond
	}
	return s, nil
}
