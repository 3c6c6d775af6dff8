// Package auth holds the credentials logic shared by the web server and the
// command line: bcrypt passwords, API bearer tokens, and the login limiter.
package auth

import (
	"errors"
	"fmt"
	"regexp"

	"golang.org/x/crypto/bcrypt"
)

// MinPasswordLength is enforced when a password is set, not when checked.
const MinPasswordLength = 8

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)

// ValidUsername keeps names safe in URLs, logs and the audit trail.
func ValidUsername(name string) error {
	if !usernameRE.MatchString(name) {
		return fmt.Errorf("invalid username %q: use 1-64 letters, digits or _ . @ -", name)
	}
	return nil
}

// HashPassword returns the bcrypt hash of a new password.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("password too short: at least %d characters", MinPasswordLength)
	}
	if len(password) > 72 {
		return "", errors.New("password too long: bcrypt uses at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// dummyHash is compared against when a user does not exist, so a login for an
// unknown name costs the same time as one for a known name.
var dummyHash = []byte("$2a$10$A7unHf8ycyZJaIOsgUJyo.CjxstJORgkDkgzR.i.InK6ZZntDGKuW")

// CheckPassword reports whether password matches hash; an empty hash never matches.
func CheckPassword(hash, password string) bool {
	if hash == "" {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// Fingerprint identifies a password hash without revealing it; sessions keep
// it so a password reset logs out every other session of that user.
func Fingerprint(hash string) string {
	if len(hash) < 8 {
		return hash
	}
	return hash[len(hash)-8:]
}
