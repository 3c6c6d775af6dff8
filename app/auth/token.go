package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// tokenPrefix makes leaked tokens easy to recognise in logs and secret scanners.
const tokenPrefix = "dx_"

// NewToken returns a fresh API token and the hash to store. The token itself
// is shown once and never stored.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is how a presented token is looked up. Tokens carry 256 random
// bits, so a fast hash is enough (unlike passwords).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return hex.EncodeToString(sum[:])
}
