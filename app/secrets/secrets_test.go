package secrets

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"deployex/app/config"
)

var testOptions = options{timeout: 2 * time.Second}

// goodHash is a real bcrypt hash other than the local default, so a test
// can tell that a value came from the secret.
var goodHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("from the secret"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func payload(t *testing.T, kv map[string]any) string {
	t.Helper()
	b, err := json.Marshal(kv)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func goodPayload(t *testing.T) string {
	return payload(t, map[string]any{KeyAdminHash: goodHash, KeyCookie: "cloud-cookie", KeySecretKeyBase: "cloud-skb", "OTHER_APP_KEY": 1})
}

func assertFromSecret(t *testing.T, cfg *config.Config) {
	t.Helper()
	if cfg.AdminHash != goodHash || cfg.Cookie != "cloud-cookie" || cfg.SecretKeyBase != "cloud-skb" {
		t.Fatalf("config not filled from the secret: %q %q %q", cfg.AdminHash, cfg.Cookie, cfg.SecretKeyBase)
	}
}

// assertErr checks the message says what is wrong without leaking a value.
func assertErr(t *testing.T, err error, want string, secretValues ...string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error containing %q", err, want)
	}
	for _, v := range secretValues {
		if strings.Contains(err.Error(), v) {
			t.Fatalf("the error leaks a secret value: %v", err)
		}
	}
}

func TestEnvAdapterKeepsConfig(t *testing.T) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(context.Background(), cfg, testOptions); err != nil {
		t.Fatal(err)
	}
	if cfg.AdminHash != config.LocalAdminHash || cfg.Cookie != config.LocalCookie {
		t.Fatalf("env adapter changed the config: %q %q", cfg.AdminHash, cfg.Cookie)
	}
}

func TestEnvAdapterChecksTheHash(t *testing.T) {
	cfg := &config.Config{SecretsAdapter: config.SecretsEnv, AdminHash: "hunter2", Cookie: "c"}
	assertErr(t, apply(context.Background(), cfg, testOptions), KeyAdminHash+" is not a bcrypt hash", "hunter2")
}

func TestParsePayload(t *testing.T) {
	cases := []struct{ name, raw, want string }{
		{"not JSON", `DEPLOYEX_ERLANG_COOKIE=x`, "not a JSON object"},
		{"a list", `["x"]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"missing hash", payload(t, map[string]any{KeyCookie: "c", KeySecretKeyBase: "s"}), "no " + KeyAdminHash},
		{"missing cookie", payload(t, map[string]any{KeyAdminHash: goodHash, KeySecretKeyBase: "s"}), "no " + KeyCookie},
		{"missing secret key base", payload(t, map[string]any{KeyAdminHash: goodHash, KeyCookie: "c"}), "no " + KeySecretKeyBase},
		{"number", payload(t, map[string]any{KeyAdminHash: goodHash, KeyCookie: 42, KeySecretKeyBase: "s"}), KeyCookie + " is not a string"},
		{"empty", payload(t, map[string]any{KeyAdminHash: goodHash, KeyCookie: "c", KeySecretKeyBase: ""}), KeySecretKeyBase + " is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePayload([]byte(tc.raw))
			assertErr(t, err, tc.want)
		})
	}
}

func TestCheckRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    values
		want string
	}{
		{"plain password", values{adminHash: "deployex", cookie: "c"}, KeyAdminHash + " is not a bcrypt hash"},
		{"truncated hash", values{adminHash: goodHash[:50], cookie: "c"}, KeyAdminHash + " is not a bcrypt hash"},
		{"cookie too long", values{adminHash: goodHash, cookie: strings.Repeat("c", 256)}, KeyCookie + " is 256 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) { assertErr(t, tc.v.check(), tc.want) })
	}
}
