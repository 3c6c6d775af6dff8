package otp

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestErgoLogWriter(t *testing.T) {
	var out bytes.Buffer
	w := ergoLogWriter{slog.New(slog.NewTextHandler(&out, nil))}
	for _, line := range []string{
		`WARNING! Erlang sent a etf.Tuple as a map key: etf.Tuple{"connection_id", "deployex@vm"} => 7060566. Ignored this item. Ergo doesn't support it.` + "\n",
		`WARNING! Could not connect to "tlsnode@vm" (vm:43353): tls: failed to verify certificate` + "\n",
		"something else\n",
	} {
		if n, err := w.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	got := out.String()
	if strings.Contains(got, "connection_id") {
		t.Errorf("the per-connection map-key warning was logged:\n%s", got)
	}
	for _, want := range []string{`level=WARN msg="Could not connect to \"tlsnode@vm\"`, `level=INFO msg="something else"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
}
