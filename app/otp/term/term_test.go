package term

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"os/exec"
	"strings"
	"testing"
)

// samples pairs Erlang source with the Go value the decoder must produce.
// Elixir maps with binary keys, funs, improper lists and tuple keys are the
// shapes ergo mangles or chokes on.
var samples = []struct {
	erl  string
	want any
}{
	{`42`, int64(42)},
	{`-1`, int64(-1)},
	{`70000`, int64(70000)},
	{`1 bsl 40`, int64(1 << 40)},
	{`-(1 bsl 62)`, int64(-(1 << 62))},
	{`1.5`, 1.5},
	{`ok`, Atom("ok")},
	{`'héllo'`, Atom("héllo")},
	{`true`, true},
	{`<<"bin">>`, "bin"},
	{`<<>>`, ""},
	{`<<1:3>>`, Bitstring{Bytes: []byte{0x20}, Bits: 3}},
	{`"abc"`, Charlist("abc")},
	{`[]`, []any{}},
	{`[1, 2000, a]`, []any{int64(1), int64(2000), Atom("a")}},
	{`[1 | 2]`, ImproperList{Elems: []any{int64(1)}, Tail: int64(2)}},
	{`{a, {}, <<"x">>}`, Tuple{Atom("a"), Tuple{}, "x"}},
	{`#{<<"k">> => 1, {t, 1} => [x], [l] => #{}}`, Map{{"k", int64(1)}, {Tuple{Atom("t"), int64(1)}, []any{Atom("x")}}, {[]any{Atom("l")}, Map{}}}},
	{`fun lists:map/2`, Fun{Module: "lists", Name: "map", Arity: 2}},
}

// erlTerms runs the host's erl once and returns term_to_binary of every sample.
func erlTerms(t *testing.T, exprs []string) [][]byte {
	t.Helper()
	prog := `[io:format("~s~n", [binary:encode_hex(term_to_binary(E))]) || E <- [` + strings.Join(exprs, ", ") + `]], halt().`
	out, err := exec.Command("erl", "-noshell", "-eval", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("erl: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(exprs) {
		t.Fatalf("erl printed %d lines for %d terms:\n%s", len(lines), len(exprs), out)
	}
	bins := make([][]byte, len(lines))
	for i, l := range lines {
		if bins[i], err = hex.DecodeString(l); err != nil {
			t.Fatal(err)
		}
	}
	return bins
}

func TestDecodeMatchesErlang(t *testing.T) {
	exprs := make([]string, len(samples))
	for i, s := range samples {
		exprs[i] = s.erl
	}
	for i, bin := range erlTerms(t, exprs) {
		got, err := Decode(bin)
		if err != nil {
			t.Errorf("%s: %v", samples[i].erl, err)
			continue
		}
		if !Equal(got, samples[i].want) {
			t.Errorf("%s: got %#v, want %#v", samples[i].erl, got, samples[i].want)
		}
	}
}

func TestClosureDecodes(t *testing.T) {
	bins := erlTerms(t, []string{`#{f => fun() -> ok end, <<"k">> => [1 | fun(X) -> X end]}`})
	got, err := Decode(bins[0])
	if err != nil {
		t.Fatal(err)
	}
	m := got.(Map)
	if f, _ := m.Get(Atom("f")); f.(Fun).Arity != 0 {
		t.Errorf("fun: %#v", f)
	}
	if l, _ := m.Get("k"); l.(ImproperList).Tail.(Fun).Arity != 1 {
		t.Errorf("improper list with fun tail: %#v", l)
	}
}

// TestEncodeRoundTrip checks that Erlang reads what Encode writes: it decodes
// each encoding on the node and prints it back in term_to_binary form.
func TestEncodeRoundTrip(t *testing.T) {
	values := []any{
		Atom("ok"), true, int64(-5), int64(300), int64(1 << 40), new(big.Int).Lsh(big.NewInt(1), 100),
		2.25, "bin", Charlist("é"), Charlist("日本"), Tuple{Atom("a"), []any{int64(1), int64(1000)}},
		ImproperList{Elems: []any{int64(1)}, Tail: Atom("t")}, Map{{Tuple{int64(1)}, "v"}},
		Pid{Node: "n@h", ID: 7, Serial: 1, Creation: 3}, Ref{Node: "n@h", Creation: 3, ID: []uint32{1, 2, 3}},
		Bitstring{Bytes: []byte{0xE0}, Bits: 3},
	}
	exprs := make([]string, len(values))
	for i, v := range values {
		b, err := Encode(v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		exprs[i] = `binary_to_term(binary:decode_hex(<<"` + hex.EncodeToString(b) + `">>))`
	}
	for i, bin := range erlTerms(t, exprs) {
		got, err := Decode(bin)
		if err != nil {
			t.Fatal(err)
		}
		want := values[i]
		if cl, ok := want.(Charlist); ok && cl == "日本" {
			want = []any{int64('日'), int64('本')}
		}
		if !Equal(got, want) {
			t.Errorf("round trip of %#v gave %#v", values[i], got)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{131},
		{131, tagList, 0xff, 0xff, 0xff, 0xff}, // huge count, no data
		{131, tagBinary, 0, 0, 0, 9, 'a'},      // truncated binary
		{131, tagSmallTuple, 2, tagSmallInteger, 1},                                // missing element
		{131, tagAtomCacheRef, 0},                                                  // cache ref outside a header
		{131, tagSmallInteger, 1, 0},                                               // trailing byte
		{131, tagNewFun, 0, 0, 0, 3, 0},                                            // fun size too small
		append([]byte{131}, bytes.Repeat([]byte{tagSmallTuple, 1}, maxDepth+2)...), // too deep
	} {
		if v, err := Decode(b); err == nil {
			t.Errorf("% x decoded to %#v", b, v)
		}
	}
	if _, err := Encode(nil); err == nil {
		t.Error("nil encoded")
	}
	if _, err := Encode(Fun{Module: "m"}); err == nil {
		t.Error("fun encoded")
	}
}
