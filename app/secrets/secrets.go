// Package secrets fills the admin password hash, the Erlang cookie and the
// secret key base from the configured adapter (environment, AWS Secrets
// Manager or GCP Secret Manager) before anything else starts.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/api/option"

	"deployex/app/config"
)

// The keys of the JSON object a cloud secret holds; the same names as the
// environment variables the env adapter reads.
const (
	KeyAdminHash     = "DEPLOYEX_ADMIN_HASHED_PASSWORD"
	KeyCookie        = "DEPLOYEX_ERLANG_COOKIE"
	KeySecretKeyBase = "DEPLOYEX_SECRET_KEY_BASE"
)

// maxCookieLen is the longest atom Erlang accepts; a longer cookie would
// stop every node from starting.
const maxCookieLen = 255

type values struct{ adminHash, cookie, secretKeyBase string }

// options are what tests change: a short deadline and, for GCP, a
// plaintext in-process endpoint without credentials.
type options struct {
	timeout time.Duration
	gcp     []option.ClientOption
}

// Apply fetches the secrets cfg.SecretsAdapter names into cfg. Messages
// name the adapter, the secret and the key, never a value.
func Apply(ctx context.Context, cfg *config.Config) error {
	return apply(ctx, cfg, options{timeout: 30 * time.Second})
}

func apply(ctx context.Context, cfg *config.Config, o options) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var (
		v   values
		err error
	)
	switch cfg.SecretsAdapter {
	case config.SecretsEnv:
		v = fromEnv(cfg)
	case config.SecretsAWS:
		v, err = fromAWS(ctx, cfg)
	case config.SecretsGCP:
		v, err = fromGCP(ctx, cfg.SecretsPath, o.gcp)
	default:
		return fmt.Errorf("secrets: unknown adapter %q", cfg.SecretsAdapter)
	}
	if err == nil {
		err = v.check()
	}
	if err != nil {
		if cfg.SecretsAdapter == config.SecretsEnv {
			return fmt.Errorf("secrets: %w", err)
		}
		return fmt.Errorf("secrets: %s secret %q: %w", cfg.SecretsAdapter, cfg.SecretsPath, err)
	}
	cfg.AdminHash, cfg.Cookie, cfg.SecretKeyBase = v.adminHash, v.cookie, v.secretKeyBase
	return nil
}

// check refuses values that would fail later and less clearly: a hash that
// makes every login fail, a cookie no node can start with.
func (v values) check() error {
	if _, err := bcrypt.Cost([]byte(v.adminHash)); err != nil || len(v.adminHash) != 60 {
		return fmt.Errorf("%s is not a bcrypt hash (want 60 characters starting $2a$, $2b$ or $2y$; make one with `deployex hash-password`)", KeyAdminHash)
	}
	if len(v.cookie) > maxCookieLen {
		return fmt.Errorf("%s is %d characters, Erlang allows at most %d", KeyCookie, len(v.cookie), maxCookieLen)
	}
	return nil
}

// parsePayload reads the JSON object a cloud secret holds. Other keys are
// allowed: one secret often serves several programs.
func parsePayload(raw []byte) (values, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return values{}, errors.New("the payload is not a JSON object")
	}
	var v values
	for _, f := range []struct {
		key string
		dst *string
	}{{KeyAdminHash, &v.adminHash}, {KeyCookie, &v.cookie}, {KeySecretKeyBase, &v.secretKeyBase}} {
		key, dst := f.key, f.dst
		raw, ok := m[key]
		if !ok {
			return values{}, fmt.Errorf("the payload has no %s", key)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return values{}, fmt.Errorf("%s is not a string", key)
		}
		if *dst == "" {
			return values{}, fmt.Errorf("%s is empty", key)
		}
	}
	return v, nil
}
