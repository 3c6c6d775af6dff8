// Package term encodes and decodes the Erlang external term format (ETF) with
// Go types that lose nothing a BEAM node can send: maps keep binary and tuple
// keys, improper lists keep their tail, funs and bitstrings survive as values.
//
// deployex does not let ergo decode results from monitored nodes: ergo drops
// the whole connection on a fun or a map with a binary key. Nodes wrap their
// answers in term_to_binary and this package decodes the bytes, so a strange
// answer is an error for one call, never a lost link.
package term

import (
	"fmt"
	"math/big"
)

// Atom is an Erlang atom. true and false decode as Go bools instead.
type Atom string

// Tuple is an Erlang tuple.
type Tuple []any

// Charlist is a list of small integers sent as STRING_EXT: Erlang cannot tell
// "abc" from [97,98,99], so the value is kept as text with its own type.
// Lists of larger integers decode as []any.
type Charlist string

// ImproperList is a list whose tail is not []: [1, 2 | Tail].
type ImproperList struct {
	Elems []any
	Tail  any
}

// Pair is one key/value association of a Map.
type Pair struct {
	Key, Value any
}

// Map is an Erlang map as an ordered list of pairs, so keys of any type
// (tuples, lists, binaries) survive; Get finds a key by Erlang equality.
type Map []Pair

// Pid is a process identifier.
type Pid struct {
	Node     Atom
	ID       uint32
	Serial   uint32
	Creation uint32
}

// Port is a port identifier.
type Port struct {
	Node     Atom
	ID       uint64
	Creation uint32
}

// Ref is a reference.
type Ref struct {
	Node     Atom
	Creation uint32
	ID       []uint32
}

// Fun is a fun received from a node. Only its identity is kept: its code and
// free variables mean nothing outside that node, so it cannot be sent back.
type Fun struct {
	Module Atom
	// Name is set for external funs (fun m:f/a); closures have an empty Name.
	Name  Atom
	Arity int
}

// Bitstring is a binary whose length is not a whole number of bytes: the last
// byte holds Bits significant (most significant) bits.
type Bitstring struct {
	Bytes []byte
	Bits  uint8
}

// Get returns the value stored under key, comparing keys structurally.
func (m Map) Get(key any) (any, bool) {
	for _, p := range m {
		if Equal(p.Key, key) {
			return p.Value, true
		}
	}
	return nil, false
}

// Text returns v as a string when it is text in any of the three shapes
// Erlang uses: a binary, a charlist or an atom.
func Text(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case Charlist:
		return string(t), true
	case Atom:
		return string(t), true
	case []any:
		// A charlist with a code point above 255 arrives as a plain list.
		rs := make([]rune, 0, len(t))
		for _, e := range t {
			i, ok := e.(int64)
			if !ok || i < 0 || i > 0x10FFFF {
				return "", false
			}
			rs = append(rs, rune(i))
		}
		return string(rs), true
	}
	return "", false
}

// Int returns v as an int64 when it is an integer that fits.
func Int(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case *big.Int:
		if t.IsInt64() {
			return t.Int64(), true
		}
	}
	return 0, false
}

// Equal compares two decoded terms structurally.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case Tuple:
		y, ok := b.(Tuple)
		return ok && equalSlices(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && equalSlices(x, y)
	case ImproperList:
		y, ok := b.(ImproperList)
		return ok && equalSlices(x.Elems, y.Elems) && Equal(x.Tail, y.Tail)
	case Map:
		y, ok := b.(Map)
		if !ok || len(x) != len(y) {
			return false
		}
		for _, p := range x {
			v, found := y.Get(p.Key)
			if !found || !Equal(p.Value, v) {
				return false
			}
		}
		return true
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case Ref:
		y, ok := b.(Ref)
		return ok && x.Node == y.Node && x.Creation == y.Creation && fmt.Sprint(x.ID) == fmt.Sprint(y.ID)
	case Bitstring:
		y, ok := b.(Bitstring)
		return ok && x.Bits == y.Bits && string(x.Bytes) == string(y.Bytes)
	}
	return a == b
}

func equalSlices(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
