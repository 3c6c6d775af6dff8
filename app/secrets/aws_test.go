package secrets

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deployex/app/config"
)

// fakeSecretsManager speaks the JSON 1.1 protocol of GetSecretValue. A value
// of nil stands for a secret holding binary data.
func fakeSecretsManager(t *testing.T, secrets map[string]*string) {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
			!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		var in struct{ SecretId string }
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		s, ok := secrets[in.SecretId]
		switch {
		case !ok:
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."})
		case s == nil:
			json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:" + in.SecretId, "Name": in.SecretId, "SecretBinary": "AAEC", "VersionId": "v1"})
		default:
			json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:" + in.SecretId, "Name": in.SecretId, "SecretString": *s, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9})
		}
	}))
	t.Cleanup(ts.Close)
	useAWSTestEnv(t, ts.URL)
}

// useAWSTestEnv points the default credential chain at test keys and the
// client at endpoint, through the variables the SDK itself reads.
func useAWSTestEnv(t *testing.T, endpoint string) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
}

func awsConfig(path string) *config.Config {
	return &config.Config{SecretsAdapter: config.SecretsAWS, SecretsPath: path, AWSRegion: "eu-west-1", AdminHash: config.LocalAdminHash, Cookie: config.LocalCookie}
}

func ptr(s string) *string { return &s }

func TestAWSSecrets(t *testing.T) {
	good := goodPayload(t)
	fakeSecretsManager(t, map[string]*string{
		"prod/deployex":   &good,
		"prod/no-cookie":  ptr(payload(t, map[string]any{KeyAdminHash: goodHash, KeySecretKeyBase: "s"})),
		"prod/bad-hash":   ptr(payload(t, map[string]any{KeyAdminHash: "plaintext-pw", KeyCookie: "c", KeySecretKeyBase: "s"})),
		"prod/binary":     nil,
		"prod/not-object": ptr("just a string"),
	})
	ctx := context.Background()

	cfg := awsConfig("prod/deployex")
	if err := apply(ctx, cfg, testOptions); err != nil {
		t.Fatal(err)
	}
	assertFromSecret(t, cfg)

	for path, want := range map[string]string{
		"prod/no-cookie":  `aws secret "prod/no-cookie": the payload has no ` + KeyCookie,
		"prod/bad-hash":   KeyAdminHash + " is not a bcrypt hash",
		"prod/binary":     "binary data",
		"prod/not-object": "not a JSON object",
		"prod/missing":    "ResourceNotFoundException",
	} {
		cfg := awsConfig(path)
		assertErr(t, apply(ctx, cfg, testOptions), want, "plaintext-pw")
		if cfg.AdminHash != config.LocalAdminHash {
			t.Errorf("%s: a failed apply changed the config", path)
		}
	}
}

func TestAWSSecretsNeedARegion(t *testing.T) {
	useAWSTestEnv(t, "http://127.0.0.1:1")
	t.Setenv("AWS_REGION", "")
	cfg := awsConfig("x")
	cfg.AWSRegion = ""
	assertErr(t, apply(context.Background(), cfg, testOptions), "AWS_REGION")
}

func TestAWSSecretsTimeOut(t *testing.T) {
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); ts.Close() })
	useAWSTestEnv(t, ts.URL)
	start := time.Now()
	err := apply(context.Background(), awsConfig("prod/deployex"), options{timeout: 500 * time.Millisecond})
	assertErr(t, err, "deadline exceeded")
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("took %v", elapsed)
	}
}
