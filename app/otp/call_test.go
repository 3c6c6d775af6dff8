package otp

import (
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/ergo-services/ergo/etf"

	"deployex/app/otp/term"
)

// fromEtf converts the ergo terms callForm is built of.
func fromEtf(t *testing.T, v etf.Term) any {
	switch x := v.(type) {
	case etf.Atom:
		return term.Atom(x)
	case int:
		return int64(x)
	case etf.Tuple:
		out := make(term.Tuple, len(x))
		for i, e := range x {
			out[i] = fromEtf(t, e)
		}
		return out
	case etf.List:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromEtf(t, e)
		}
		return out
	}
	t.Fatalf("unexpected %T in callForm", v)
	return nil
}

// TestCallFormMatchesParser checks the hand-built abstract form against what
// erl_parse makes of the source it documents.
func TestCallFormMatchesParser(t *testing.T) {
	src := `erlang:term_to_binary(try {ok, erlang:apply(M, F, erlang:binary_to_term(A))} catch C:E -> {error, C, E} end).`
	prog := `{ok, Ts, _} = erl_scan:string("` + src + `"), {ok, [F]} = erl_parse:parse_exprs(Ts),
		io:format("~s~n", [binary:encode_hex(term_to_binary(F))]), halt().`
	out, err := exec.Command("erl", "-noshell", "-eval", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("erl: %v\n%s", err, out)
	}
	bin, err := hex.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := term.Decode(bin)
	if err != nil {
		t.Fatal(err)
	}
	if got := fromEtf(t, callForm); !term.Equal(got, parsed) {
		t.Errorf("callForm\n%s\nerl_parse\n%s", term.Format(got), term.Format(parsed))
	}
}
