package term

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ETF tags (erts/doc: External Term Format).
const (
	tagVersion       = 131
	tagNewFloat      = 70
	tagBitBinary     = 77
	tagAtomCacheRef  = 82
	tagNewPid        = 88
	tagNewPort       = 89
	tagNewerRef      = 90
	tagSmallInteger  = 97
	tagInteger       = 98
	tagFloat         = 99
	tagAtom          = 100
	tagReference     = 101
	tagPort          = 102
	tagPid           = 103
	tagSmallTuple    = 104
	tagLargeTuple    = 105
	tagNil           = 106
	tagString        = 107
	tagList          = 108
	tagBinary        = 109
	tagSmallBig      = 110
	tagLargeBig      = 111
	tagNewFun        = 112
	tagExport        = 113
	tagNewReference  = 114
	tagSmallAtom     = 115
	tagMap           = 116
	tagFun           = 117
	tagAtomUTF8      = 118
	tagSmallAtomUTF8 = 119
	tagV4Port        = 120
)

// maxDepth bounds nesting so a hostile or corrupt binary cannot exhaust the stack.
const maxDepth = 10000

var errShort = errors.New("etf: truncated term")

// Decode decodes a whole term_to_binary result (version byte included).
func Decode(b []byte) (any, error) {
	if len(b) == 0 || b[0] != tagVersion {
		return nil, errors.New("etf: missing version byte 131")
	}
	v, n, err := DecodeRaw(b[1:])
	if err != nil {
		return nil, err
	}
	if n != len(b)-1 {
		return nil, fmt.Errorf("etf: %d trailing bytes", len(b)-1-n)
	}
	return v, nil
}

// DecodeRaw decodes one term without a version byte, as found in distribution
// control messages, and reports how many bytes it used.
func DecodeRaw(b []byte) (v any, n int, err error) {
	d := decoder{b: b}
	v, err = d.term(0)
	return v, d.pos, err
}

type decoder struct {
	b   []byte
	pos int
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || len(d.b)-d.pos < n {
		return nil, errShort
	}
	s := d.b[d.pos : d.pos+n]
	d.pos += n
	return s, nil
}

func (d *decoder) u8() (uint8, error) {
	s, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

func (d *decoder) u16() (uint16, error) {
	s, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(s), nil
}

func (d *decoder) u32() (uint32, error) {
	s, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(s), nil
}

func (d *decoder) u64() (uint64, error) {
	s, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(s), nil
}

// count reads a length and refuses one that cannot fit in the rest of the
// input, so a corrupt length never triggers a huge allocation.
func (d *decoder) count(wide bool, minSize int) (int, error) {
	var n int
	if wide {
		v, err := d.u32()
		if err != nil {
			return 0, err
		}
		n = int(v)
	} else {
		v, err := d.u8()
		if err != nil {
			return 0, err
		}
		n = int(v)
	}
	if n*minSize > len(d.b)-d.pos {
		return 0, errShort
	}
	return n, nil
}

func (d *decoder) term(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("etf: term nested too deeply")
	}
	tag, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagSmallInteger:
		v, err := d.u8()
		return int64(v), err
	case tagInteger:
		v, err := d.u32()
		return int64(int32(v)), err
	case tagSmallBig, tagLargeBig:
		return d.bigInt(tag == tagLargeBig)
	case tagNewFloat:
		v, err := d.u64()
		return math.Float64frombits(v), err
	case tagFloat:
		s, err := d.take(31)
		if err != nil {
			return nil, err
		}
		return strconv.ParseFloat(strings.TrimRight(string(s), "\x00"), 64)
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		a, err := d.atomBody(tag)
		if err != nil {
			return nil, err
		}
		switch a {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return a, nil
	case tagSmallTuple, tagLargeTuple:
		n, err := d.count(tag == tagLargeTuple, 1)
		if err != nil {
			return nil, err
		}
		t := make(Tuple, n)
		for i := range t {
			if t[i], err = d.term(depth + 1); err != nil {
				return nil, err
			}
		}
		return t, nil
	case tagNil:
		return []any{}, nil
	case tagString:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		s, err := d.take(int(n))
		if err != nil {
			return nil, err
		}
		rs := make([]rune, len(s))
		for i, c := range s {
			rs[i] = rune(c)
		}
		return Charlist(rs), nil
	case tagList:
		return d.list(depth)
	case tagBinary:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		s, err := d.take(int(n))
		return string(s), err
	case tagBitBinary:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		bits, err := d.u8()
		if err != nil {
			return nil, err
		}
		s, err := d.take(int(n))
		if err != nil {
			return nil, err
		}
		if bits == 8 {
			return string(s), nil
		}
		return Bitstring{Bytes: append([]byte(nil), s...), Bits: bits}, nil
	case tagMap:
		n, err := d.count(true, 2)
		if err != nil {
			return nil, err
		}
		m := make(Map, n)
		for i := range m {
			if m[i].Key, err = d.term(depth + 1); err != nil {
				return nil, err
			}
			if m[i].Value, err = d.term(depth + 1); err != nil {
				return nil, err
			}
		}
		return m, nil
	case tagPid, tagNewPid:
		return d.pid(tag == tagNewPid)
	case tagPort, tagNewPort, tagV4Port:
		return d.port(tag)
	case tagReference, tagNewReference, tagNewerRef:
		return d.ref(tag)
	case tagExport:
		return d.export(depth)
	case tagNewFun:
		return d.newFun()
	case tagFun:
		return d.oldFun(depth)
	case tagAtomCacheRef:
		return nil, errors.New("etf: atom cache reference outside a distribution header")
	}
	return nil, fmt.Errorf("etf: unsupported tag %d", tag)
}

func (d *decoder) list(depth int) (any, error) {
	n, err := d.count(true, 1)
	if err != nil {
		return nil, err
	}
	elems := make([]any, n)
	for i := range elems {
		if elems[i], err = d.term(depth + 1); err != nil {
			return nil, err
		}
	}
	tail, err := d.term(depth + 1)
	if err != nil {
		return nil, err
	}
	if t, ok := tail.([]any); ok && len(t) == 0 {
		return elems, nil
	}
	return ImproperList{Elems: elems, Tail: tail}, nil
}

func (d *decoder) bigInt(large bool) (any, error) {
	n, err := d.count(large, 1)
	if err != nil {
		return nil, err
	}
	sign, err := d.u8()
	if err != nil {
		return nil, err
	}
	le, err := d.take(n)
	if err != nil {
		return nil, err
	}
	be := make([]byte, n)
	for i, c := range le {
		be[n-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if sign != 0 {
		v.Neg(v)
	}
	if v.IsInt64() {
		return v.Int64(), nil
	}
	return v, nil
}

// atom reads a term that must be an atom (node names, modules, fun names).
func (d *decoder) atom() (Atom, error) {
	tag, err := d.u8()
	if err != nil {
		return "", err
	}
	switch tag {
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		return d.atomBody(tag)
	}
	return "", fmt.Errorf("etf: expected an atom, got tag %d", tag)
}

func (d *decoder) atomBody(tag byte) (Atom, error) {
	var n int
	if tag == tagAtom || tag == tagAtomUTF8 {
		v, err := d.u16()
		if err != nil {
			return "", err
		}
		n = int(v)
	} else {
		v, err := d.u8()
		if err != nil {
			return "", err
		}
		n = int(v)
	}
	s, err := d.take(n)
	if err != nil {
		return "", err
	}
	if tag == tagAtomUTF8 || tag == tagSmallAtomUTF8 {
		if !utf8.Valid(s) {
			return "", errors.New("etf: atom is not valid UTF-8")
		}
		return Atom(s), nil
	}
	// ATOM_EXT and SMALL_ATOM_EXT are Latin-1 (OTP 25's term_to_binary default).
	rs := make([]rune, len(s))
	for i, c := range s {
		rs[i] = rune(c)
	}
	return Atom(rs), nil
}

func (d *decoder) creation(wide bool) (uint32, error) {
	if wide {
		return d.u32()
	}
	c, err := d.u8()
	return uint32(c), err
}

func (d *decoder) pid(wide bool) (any, error) {
	node, err := d.atom()
	if err != nil {
		return nil, err
	}
	id, err := d.u32()
	if err != nil {
		return nil, err
	}
	serial, err := d.u32()
	if err != nil {
		return nil, err
	}
	c, err := d.creation(wide)
	return Pid{Node: node, ID: id, Serial: serial, Creation: c}, err
}

func (d *decoder) port(tag byte) (any, error) {
	node, err := d.atom()
	if err != nil {
		return nil, err
	}
	var id uint64
	if tag == tagV4Port {
		id, err = d.u64()
	} else {
		var v uint32
		v, err = d.u32()
		id = uint64(v)
	}
	if err != nil {
		return nil, err
	}
	c, err := d.creation(tag != tagPort)
	return Port{Node: node, ID: id, Creation: c}, err
}

func (d *decoder) ref(tag byte) (any, error) {
	if tag == tagReference {
		node, err := d.atom()
		if err != nil {
			return nil, err
		}
		id, err := d.u32()
		if err != nil {
			return nil, err
		}
		c, err := d.creation(false)
		return Ref{Node: node, Creation: c, ID: []uint32{id}}, err
	}
	n, err := d.u16()
	if err != nil {
		return nil, err
	}
	node, err := d.atom()
	if err != nil {
		return nil, err
	}
	c, err := d.creation(tag == tagNewerRef)
	if err != nil {
		return nil, err
	}
	if int(n)*4 > len(d.b)-d.pos {
		return nil, errShort
	}
	ids := make([]uint32, n)
	for i := range ids {
		if ids[i], err = d.u32(); err != nil {
			return nil, err
		}
	}
	return Ref{Node: node, Creation: c, ID: ids}, nil
}

func (d *decoder) export(depth int) (any, error) {
	mod, err := d.atom()
	if err != nil {
		return nil, err
	}
	name, err := d.atom()
	if err != nil {
		return nil, err
	}
	arity, err := d.term(depth + 1)
	if err != nil {
		return nil, err
	}
	a, ok := arity.(int64)
	if !ok {
		return nil, errors.New("etf: export arity is not an integer")
	}
	return Fun{Module: mod, Name: name, Arity: int(a)}, nil
}

// newFun reads NEW_FUN_EXT; its Size field covers the whole fun, so the
// free variables are skipped rather than decoded.
func (d *decoder) newFun() (any, error) {
	start := d.pos // Size counts itself but not the tag
	size, err := d.u32()
	if err != nil {
		return nil, err
	}
	end := start + int(size)
	if int(size) < 1+4+1+16+4+4 || end > len(d.b) {
		return nil, errShort
	}
	arity, err := d.u8()
	if err != nil {
		return nil, err
	}
	if _, err := d.take(16 + 4 + 4); err != nil { // Uniq, Index, NumFree
		return nil, err
	}
	mod, err := d.atom()
	if err != nil {
		return nil, err
	}
	d.pos = end
	return Fun{Module: mod, Arity: int(arity)}, nil
}

// oldFun reads FUN_EXT (pre-R16 senders); it has no size, so it is walked.
func (d *decoder) oldFun(depth int) (any, error) {
	numFree, err := d.count(true, 1)
	if err != nil {
		return nil, err
	}
	if _, err := d.term(depth + 1); err != nil { // Pid
		return nil, err
	}
	mod, err := d.atom()
	if err != nil {
		return nil, err
	}
	for i := 0; i < 2+numFree; i++ { // Index, Uniq, free variables
		if _, err := d.term(depth + 1); err != nil {
			return nil, err
		}
	}
	return Fun{Module: mod, Arity: -1}, nil
}
