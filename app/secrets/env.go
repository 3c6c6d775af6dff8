package secrets

import "deployex/app/config"

// fromEnv has nothing to fetch: config already read the three variables
// (with the local defaults in local mode), and apply still checks them.
func fromEnv(cfg *config.Config) values {
	return values{adminHash: cfg.AdminHash, cookie: cfg.Cookie, secretKeyBase: cfg.SecretKeyBase}
}
