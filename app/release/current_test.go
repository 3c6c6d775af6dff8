package release

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseCurrentGood(t *testing.T) {
	sha := strings.Repeat("AB", 32)
	raw := []byte(`{"version":"1.2.3-rc.1+build.7","hash":"abc123","pre_commands":["eval MyApp.Migrator.migrate","ping"],"sha256":"` + sha + `","built_at":"2026-01-01"}`)
	c, err := ParseCurrent(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "1.2.3-rc.1+build.7" || c.Hash != "abc123" || len(c.PreCommands) != 2 ||
		c.PreCommands[0] != "eval MyApp.Migrator.migrate" || c.SHA256 != strings.ToLower(sha) || c.Digest != Digest(raw) {
		t.Fatalf("got %+v", c)
	}

	// Optional fields may be absent or null.
	for _, raw := range []string{`{"version":"1","hash":""}`, `{"version":"1","hash":"h","pre_commands":null,"sha256":null}`, ` {"version":"1","hash":"h","pre_commands":[]} ` + "\n"} {
		c, err := ParseCurrent([]byte(raw))
		if err != nil || c.Version != "1" || len(c.PreCommands) != 0 || c.SHA256 != "" {
			t.Errorf("%s: got %+v, %v", raw, c, err)
		}
	}
}

func TestParseCurrentRefuses(t *testing.T) {
	cases := []struct {
		name, raw, field, reason string
	}{
		{"bad JSON", `{"version":"1",`, "", "invalid JSON"},
		{"not an object", `["1.0"]`, "", "not a JSON object"},
		{"empty file", ``, "", "not a JSON object"},
		{"trailing data", `{"version":"1","hash":"h"} {}`, "", "after the JSON object"},
		{"duplicate key", `{"version":"1","hash":"h","version":"2"}`, "", `duplicate key "version"`},
		{"missing version", `{"hash":"h"}`, "version", "required"},
		{"null version", `{"version":null,"hash":"h"}`, "version", "required"},
		{"numeric version", `{"version":1.0,"hash":"h"}`, "version", "must be a string, got a number"},
		{"empty version", `{"version":"","hash":"h"}`, "version", "must not be empty"},
		{"shell command in version", `{"version":"1.0;rm -rf /","hash":"h"}`, "version", "only [0-9A-Za-z._+-] allowed"},
		{"command substitution", `{"version":"$(id)","hash":"h"}`, "version", "only [0-9A-Za-z._+-]"},
		{"backticks", "{\"version\":\"`id`\",\"hash\":\"h\"}", "version", "only [0-9A-Za-z._+-]"},
		{"spaces", `{"version":"1.0 beta","hash":"h"}`, "version", "only [0-9A-Za-z._+-]"},
		{"slash", `{"version":"../../etc","hash":"h"}`, "version", "must not start with '.'"},
		{"dot", `{"version":".","hash":"h"}`, "version", "must not start with '.'"},
		{"dotdot", `{"version":"..","hash":"h"}`, "version", "must not start with '.'"},
		{"option-like", `{"version":"-rf","hash":"h"}`, "version", "must not start with '-'"},
		{"65 characters", `{"version":"` + strings.Repeat("1", 65) + `","hash":"h"}`, "version", "at most 64 characters, got 65"},
		{"unicode", `{"version":"1.0\u00e9","hash":"h"}`, "version", "only [0-9A-Za-z._+-]"},
		{"missing hash", `{"version":"1"}`, "hash", "required"},
		{"hash with newline", `{"version":"1","hash":"a\nb"}`, "hash", "control character"},
		{"pre_commands not a list", `{"version":"1","hash":"h","pre_commands":"eval x"}`, "pre_commands", "must be a list of strings, got a string"},
		{"pre_commands with a number", `{"version":"1","hash":"h","pre_commands":["eval x",42]}`, "pre_commands", "item 1 must be a string, got a number"},
		{"pre_commands with an object", `{"version":"1","hash":"h","pre_commands":[{"cmd":"x"}]}`, "pre_commands", "item 0 must be a string, got an object"},
		{"empty pre_command", `{"version":"1","hash":"h","pre_commands":["  "]}`, "pre_commands", "item 0 is empty"},
		{"pre_command with newline", `{"version":"1","hash":"h","pre_commands":["eval x\nrm -rf /"]}`, "pre_commands", "item 0: contains control character"},
		{"pre_command with NUL", `{"version":"1","hash":"h","pre_commands":["eval x\u0000"]}`, "pre_commands", "control character"},
		{"too many pre_commands", `{"version":"1","hash":"h","pre_commands":[` + strings.Repeat(`"x",`, 32) + `"x"]}`, "pre_commands", "at most 32 commands, got 33"},
		{"long pre_command", `{"version":"1","hash":"h","pre_commands":["` + strings.Repeat("x", 4097) + `"]}`, "pre_commands", "longer than 4096 bytes"},
		{"short sha256", `{"version":"1","hash":"h","sha256":"abc"}`, "sha256", "64 hex characters, got 3"},
		{"non-hex sha256", `{"version":"1","hash":"h","sha256":"` + strings.Repeat("zz", 32) + `"}`, "sha256", "64 hex characters"},
		{"numeric sha256", `{"version":"1","hash":"h","sha256":5}`, "sha256", "must be a string"},
		{"oversized file", `{"version":"1","hash":"h","pad":"` + strings.Repeat("x", MaxCurrentBytes) + `"}`, "", "larger than 65536 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCurrent([]byte(tc.raw))
			var ce *CurrentError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a CurrentError", err)
			}
			if ce.Field != tc.field || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("got %q; want field %q and reason containing %q", err, tc.field, tc.reason)
			}
			if ce.Digest != Digest([]byte(tc.raw)) {
				t.Error("the error does not carry the content digest")
			}
			if len(err.Error()) > 300 {
				t.Errorf("message of %d bytes: a hostile value must be cut short", len(err.Error()))
			}
		})
	}
}

// The same content always gives the same digest, so a malformed file is
// reported once however often it is polled; a new content, a new digest.
func TestParseCurrentDigestPerContent(t *testing.T) {
	_, err1 := ParseCurrent([]byte(`{"version":"$(id)","hash":"h"}`))
	_, err2 := ParseCurrent([]byte(`{"version":"$(id)","hash":"h"}`))
	_, err3 := ParseCurrent([]byte(`{"version":"$(id)","hash":"h2"}`))
	var a, b, c *CurrentError
	errors.As(err1, &a)
	errors.As(err2, &b)
	errors.As(err3, &c)
	if a.Digest != b.Digest || a.Digest == c.Digest {
		t.Fatalf("digests %s %s %s", a.Digest, b.Digest, c.Digest)
	}
}

func FuzzParseCurrent(f *testing.F) {
	for _, seed := range []string{
		`{"version":"1.0.0","hash":"abc","pre_commands":["eval X.y"]}`,
		`{"version":"1.0.0","hash":"abc","sha256":"` + strings.Repeat("a", 64) + `"}`,
		`{"version":"1.0;rm -rf /","hash":"h"}`,
		`{"version":"1","hash":"h","version":"2"}`,
		`{"version":"1","hash":"h","pre_commands":[1,{"a":[]}]}`,
		`{"version":"\u0031","hash":"\ud800"}`,
		`{"version":"1","hash":"h"}garbage`,
		`[]`, `null`, `"str"`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseCurrent(raw)
		if err != nil {
			var ce *CurrentError
			if !errors.As(err, &ce) || ce.Digest != Digest(raw) {
				t.Fatalf("error %v is not a CurrentError with the digest", err)
			}
			return
		}
		if ValidVersion(c.Version) != nil || c.Digest != Digest(raw) || len(raw) > MaxCurrentBytes {
			t.Fatalf("accepted %+v from %q", c, raw)
		}
		for _, s := range append([]string{c.Hash}, c.PreCommands...) {
			if strings.ContainsAny(s, "\x00\n\r") {
				t.Fatalf("accepted a control character in %q", s)
			}
		}
		// What was accepted survives a round trip unchanged.
		again, err := json.Marshal(map[string]any{"version": c.Version, "hash": c.Hash, "pre_commands": c.PreCommands, "sha256": nullIfEmpty(c.SHA256)})
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseCurrent(again)
		if err != nil || c2.Version != c.Version || c2.Hash != c.Hash || c2.SHA256 != c.SHA256 || len(c2.PreCommands) != len(c.PreCommands) {
			t.Fatalf("round trip of %q: %+v, %v", raw, c2, err)
		}
	})
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func TestValidVersion(t *testing.T) {
	for _, ok := range []string{"1", "1.0.0", "0.1.0-rc.1", "1.0.0+build.5", "v2_beta", "A-b.C"} {
		if err := ValidVersion(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "-x", "1/2", "1 2", "1;2", "$(id)", "é", strings.Repeat("a", 65)} {
		if ValidVersion(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
