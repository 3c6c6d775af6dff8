package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deployex/app"
)

func env(kv map[string]string) Getenv {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestDefaultsAreTheLocalSeed(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Apps[0]
	if len(c.Apps) != 1 || a.Name != "myphoenixapp" || a.Language != app.Elixir || a.Replicas != 3 || a.Port(3) != 4002 {
		t.Fatalf("apps: %+v", c.Apps)
	}
	if c.HTTPPort != 5001 || c.ReleaseBucket != "/tmp/myphoenixapp" || c.DataDir != "/tmp/deployex" || !c.Local() {
		t.Fatalf("config: %+v", c)
	}
	if a.DeployRollbackTimeout != 10*time.Minute || a.DeployScheduleInterval != 5*time.Second {
		t.Fatalf("deploy timings: %v %v", a.DeployRollbackTimeout, a.DeployScheduleInterval)
	}
	if got := c.LogDir("myphoenixapp"); got != "/tmp/myphoenixapp/myphoenixapp" {
		t.Errorf("log dir %s", got)
	}
	if got := c.ServiceDir("myphoenixapp", 2); got != "/tmp/deployex/varlib/service/myphoenixapp/2" {
		t.Errorf("service dir %s", got)
	}
	if err := c.CheckSecrets(); err != nil {
		t.Errorf("local mode must accept the defaults: %v", err)
	}
	if c.HealthInterval != 2*time.Second || c.HealthFailures != 3 || c.SSLDistOptFile() != "" {
		t.Errorf("health check %v × %d, ssl_dist_optfile %q", c.HealthInterval, c.HealthFailures, c.SSLDistOptFile())
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := []struct{ name, value string }{
		{"DEPLOYEX_MONITORED_REPLICAS", "three"},
		{"DEPLOYEX_MONITORED_REPLICAS", "0"},
		{"DEPLOYEX_MONITORED_APP_PORT", "70000"},
		{"DEPLOYEX_MONITORED_APP_LANG", "ruby"},
		{"DEPLOYEX_MONITORED_APP_NAME", "My-App"},
		{"DEPLOYEX_MONITORED_APP_NAME", "../etc"},
		{"DEPLOYEX_RELEASE_ADAPTER", "ftp"},
		{"DEPLOYEX_PHX_PORT", "-1"},
		{"DEPLOYEX_DEPLOY_TIMEOUT_ROLLBACK_MS", "soon"},
		{"DEPLOYEX_CLOUD_ENVIRONMENT", "prod/../x"},
		{"DEPLOYEX_BEHIND_TLS_PROXY", "maybe"},
		{"DEPLOYEX_SECRETS_ADAPTER", "vault"},
		{"DEPLOYEX_HEALTH_CHECK_INTERVAL_MS", "50"},
		{"DEPLOYEX_HEALTH_CHECK_FAILURES", "-1"},
		{"DEPLOYEX_LOG_MAX_MB", "-5"},
		{"DEPLOYEX_LOG_KEEP", "many"},
	}
	for _, tc := range cases {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.name || ce.Value != tc.value {
			t.Errorf("%s=%q: got %v", tc.name, tc.value, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.value) {
			t.Errorf("message %q must name the variable and the value", err)
		}
	}
}

func TestProductionRefusesLocalSecrets(t *testing.T) {
	base := map[string]string{"DEPLOYEX_CLOUD_ENVIRONMENT": "prod", "DEPLOYEX_RELEASE_ADAPTER": "s3", "DEPLOYEX_RELEASE_BUCKET": "b"}
	c, err := Load(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSecrets(); err == nil || !strings.Contains(err.Error(), "DEPLOYEX_ADMIN_HASHED_PASSWORD") {
		t.Fatalf("default password in production: %v", err)
	}
	base["DEPLOYEX_ADMIN_HASHED_PASSWORD"] = "$2a$10$abcdefghijklmnopqrstuuJ0OhC4UBXzE7qkDs3sR7Yx3sS7bFZ2e"
	c, _ = Load(env(base))
	if err := c.CheckSecrets(); err == nil || !strings.Contains(err.Error(), "DEPLOYEX_ERLANG_COOKIE") {
		t.Fatalf("default cookie in production: %v", err)
	}
	if c.DataDir != "/var/lib/deployex" || c.LogDir("a") != "/var/log/a" || c.ServiceDir("a", 1) != "/var/lib/deployex/service/a/1" {
		t.Fatalf("production paths: %s %s %s", c.DataDir, c.LogDir("a"), c.ServiceDir("a", 1))
	}
	delete(base, "DEPLOYEX_RELEASE_BUCKET")
	if _, err := Load(env(base)); err == nil || !strings.Contains(err.Error(), "DEPLOYEX_RELEASE_BUCKET") {
		t.Fatalf("s3 without a bucket: %v", err)
	}
}

func TestYAMLApplications(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "deployex.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`account_name: "prod"
release_adapter: "s3"
release_bucket: "myapp-prod-distribution"
version: "0.9.0"
otp_version: 27
deploy_rollback_timeout_ms: 60000
applications:
  - name: "myphoenixapp"
    language: "elixir"
    replicas: 2
    replica_ports:
      - key: PORT
        base: 4000
      - key: METRICS_PORT
        base: 9000
    env:
      - key: MYPHOENIXAPP_PHX_SERVER
        value: true
    monitoring:
      - type: "atom"
  - name: "myumbrella"
    language: "erlang"
    initial_port: 4050
    replicas: 1
    deploy_schedule_interval_ms: 1000
`)
	c, err := Load(env(map[string]string{"DEPLOYEX_CONFIG_YAML_PATH": path}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Environment != "prod" || c.ReleaseAdapter != AdapterS3 || c.ReleaseBucket != "myapp-prod-distribution" || len(c.Apps) != 2 {
		t.Fatalf("config: %+v", c)
	}
	ph := c.Apps[0]
	if got := ph.PortEnv(2); len(got) != 2 || got[0] != "PORT=4001" || got[1] != "METRICS_PORT=9001" {
		t.Fatalf("port env: %v", got)
	}
	if len(ph.Env) != 1 || ph.Env[0].Value != "true" || ph.DeployRollbackTimeout != time.Minute {
		t.Fatalf("app: %+v", ph)
	}
	if um := c.Apps[1]; um.Port(1) != 4050 || um.DeployScheduleInterval != time.Second || um.Language != app.Erlang {
		t.Fatalf("app: %+v", um)
	}

	for bad, field := range map[string]string{
		"applications: []\n": "applications",
		"applications:\n  - {name: a, language: elixir, replicas: 1, initial_port: 4000}\n  - {name: a, language: erlang, replicas: 1, initial_port: 5000}\n": "applications[1].name",
		"applications:\n  - {name: a, language: cobol, replicas: 1, initial_port: 4000}\n":                                                                    "applications[0].language",
		"applications:\n  - {name: a, language: elixir, replicas: 1, initial_port: 65535, replica_ports: [{key: PORT, base: 1}]}\n":                           "initial_port",
		"applications:\n  - {name: a, language: elixir, replicas: 2, initial_port: 65535}\n":                                                                  "initial_port",
		"aplications: []\n": "aplications",
	} {
		write(bad)
		_, err := Load(env(map[string]string{"DEPLOYEX_CONFIG_YAML_PATH": path}))
		if err == nil || !strings.Contains(err.Error(), "DEPLOYEX_CONFIG_YAML_PATH") || !strings.Contains(err.Error(), field) {
			t.Errorf("%q: got %v, want an error naming %s", bad, err, field)
		}
	}
}
