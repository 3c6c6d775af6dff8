// Package release reads what the bucket says should run and fetches it:
// current.json parsing, the local/S3/GCS sources, and the safe unpacking of a
// release tarball.
package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of current.json. The file is written by CI and read every few
// seconds, so anything near these sizes is a mistake or an attack.
const (
	MaxCurrentBytes   = 64 << 10
	MaxVersionLen     = 64
	MaxHashLen        = 256
	MaxPreCommands    = 32
	MaxPreCommandLen  = 4096
	maxShownValueRune = 80
)

// Current is a validated current.json.
type Current struct {
	Version     string
	Hash        string
	PreCommands []string
	// SHA256 is the expected digest of the tarball in lowercase hex, or ""
	// when the file does not pin one.
	SHA256 string
	// Digest identifies the raw bytes, so a caller can act (or complain) once
	// per distinct file content however often it polls.
	Digest string
}

// CurrentError says why current.json was refused. Digest is the same
// content digest a good file would have carried.
type CurrentError struct {
	Field  string // "" when the file as a whole is wrong
	Reason string
	Digest string
}

func (e *CurrentError) Error() string {
	if e.Field == "" {
		return "current.json: " + e.Reason
	}
	return fmt.Sprintf("current.json: field %q: %s", e.Field, e.Reason)
}

// Digest is the hex sha256 of b; Current.Digest and CurrentError.Digest use it.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ParseCurrent validates current.json. Unknown top-level fields are ignored:
// upstream tooling and CI scripts add their own (build time, commit URL), and
// refusing them would stop deployments over data nobody acts on. Duplicate
// keys are refused, because two parsers could disagree on which one wins and
// a reviewer could read a different version than the one deployed.
func ParseCurrent(raw []byte) (Current, error) {
	digest := Digest(raw)
	fail := func(field, format string, args ...any) (Current, error) {
		return Current{}, &CurrentError{Field: field, Reason: fmt.Sprintf(format, args...), Digest: digest}
	}
	if len(raw) > MaxCurrentBytes {
		return fail("", "file is larger than %d bytes", MaxCurrentBytes)
	}
	fields, err := topLevelFields(raw)
	if err != nil {
		return fail("", "%v", err)
	}

	c := Current{Digest: digest}
	if err := requiredString(fields, "version", &c.Version); err != nil {
		return fail("version", "%v", err)
	}
	if err := ValidVersion(c.Version); err != nil {
		return fail("version", "%v", err)
	}
	if err := requiredString(fields, "hash", &c.Hash); err != nil {
		return fail("hash", "%v", err)
	}
	if err := checkText(c.Hash, MaxHashLen); err != nil {
		return fail("hash", "%v", err)
	}
	if c.PreCommands, err = preCommands(fields["pre_commands"]); err != nil {
		return fail("pre_commands", "%v", err)
	}
	if c.SHA256, err = optionalSHA256(fields["sha256"]); err != nil {
		return fail("sha256", "%v", err)
	}
	return c, nil
}

// topLevelFields walks the top-level object by tokens so that duplicate
// keys, a non-object document and trailing data are all caught.
func topLevelFields(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("invalid JSON: object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("invalid JSON in %q: %v", key, err)
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		fields[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return fields, nil
}

func requiredString(fields map[string]json.RawMessage, key string, dst *string) error {
	v, ok := fields[key]
	if !ok || isNull(v) {
		return errors.New("required")
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("must be a string, got %s", jsonKind(v))
	}
	return nil
}

func preCommands(v json.RawMessage) ([]string, error) {
	if v == nil || isNull(v) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, fmt.Errorf("must be a list of strings, got %s", jsonKind(v))
	}
	if len(items) > MaxPreCommands {
		return nil, fmt.Errorf("at most %d commands, got %d", MaxPreCommands, len(items))
	}
	cmds := make([]string, 0, len(items))
	for i, item := range items {
		var s string
		if err := json.Unmarshal(item, &s); err != nil {
			return nil, fmt.Errorf("item %d must be a string, got %s", i, jsonKind(item))
		}
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("item %d is empty", i)
		}
		if err := checkText(s, MaxPreCommandLen); err != nil {
			return nil, fmt.Errorf("item %d: %v", i, err)
		}
		cmds = append(cmds, s)
	}
	return cmds, nil
}

func optionalSHA256(v json.RawMessage) (string, error) {
	if v == nil || isNull(v) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("must be a string, got %s", jsonKind(v))
	}
	if len(s) != 64 {
		return "", fmt.Errorf("must be 64 hex characters, got %d characters", len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("must be 64 hex characters, got %s", shown(s))
	}
	return strings.ToLower(s), nil
}

// checkText refuses control characters and line separators (newlines, NUL,
// terminal escapes) because these strings reach logs, argv and the dashboard.
func checkText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("contains control character %U", r)
		}
	}
	return nil
}

// ValidVersion accepts what can safely be a path segment, a file name part
// and an argv element: [0-9A-Za-z._+-], 1..64 characters, not "." or "..",
// and not starting with "-" (an option) or "." (a hidden file).
func ValidVersion(v string) error {
	switch {
	case v == "":
		return errors.New("must not be empty")
	case len(v) > MaxVersionLen:
		return fmt.Errorf("at most %d characters, got %d", MaxVersionLen, len(v))
	case v[0] == '-' || v[0] == '.':
		return fmt.Errorf("must not start with %q: %s", v[0], shown(v))
	}
	for _, r := range v {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("._+-", r)) {
			return fmt.Errorf("only [0-9A-Za-z._+-] allowed, got %s", shown(v))
		}
	}
	return nil
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

func jsonKind(v json.RawMessage) string {
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// shown quotes a refused value for an error message, cut short so a hostile
// file cannot flood the log or the dashboard.
func shown(s string) string {
	if utf8.RuneCountInString(s) > maxShownValueRune {
		r := []rune(s)
		return fmt.Sprintf("%q…", string(r[:maxShownValueRune]))
	}
	return fmt.Sprintf("%q", s)
}
