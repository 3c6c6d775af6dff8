package term

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"
)

// Encode returns the term_to_binary form of v (version byte included).
//
// Go values map as: Atom, bool → atoms; int, int64, uint32, *big.Int →
// integers; float64; string and []byte → binaries; Charlist → a string
// (list of code points); Tuple; []any → proper list; ImproperList; Map;
// Pid, Port, Ref and Bitstring as decoded. Funs and nil are refused: a fun
// cannot be rebuilt here and nil has no single Erlang meaning.
func Encode(v any) ([]byte, error) {
	return AppendRaw([]byte{tagVersion}, v)
}

// AppendRaw appends the encoding of v without a version byte, as used inside
// distribution control messages.
func AppendRaw(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case Atom:
		return appendAtom(b, t)
	case bool:
		if t {
			return appendAtom(b, "true")
		}
		return appendAtom(b, "false")
	case int:
		return appendInt(b, int64(t)), nil
	case int64:
		return appendInt(b, t), nil
	case uint32:
		return appendInt(b, int64(t)), nil
	case *big.Int:
		if t.IsInt64() {
			return appendInt(b, t.Int64()), nil
		}
		return appendBig(b, t), nil
	case float64:
		b = append(b, tagNewFloat)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(t)), nil
	case string:
		return appendBinary(b, []byte(t)), nil
	case []byte:
		return appendBinary(b, t), nil
	case Charlist:
		return appendCharlist(b, t), nil
	case Bitstring:
		if t.Bits < 1 || t.Bits > 8 || len(t.Bytes) == 0 {
			return nil, fmt.Errorf("etf: invalid bitstring (%d bytes, %d bits)", len(t.Bytes), t.Bits)
		}
		b = append(b, tagBitBinary)
		b = binary.BigEndian.AppendUint32(b, uint32(len(t.Bytes)))
		b = append(b, t.Bits)
		return append(b, t.Bytes...), nil
	case Tuple:
		if len(t) < 256 {
			b = append(b, tagSmallTuple, byte(len(t)))
		} else {
			b = append(b, tagLargeTuple)
			b = binary.BigEndian.AppendUint32(b, uint32(len(t)))
		}
		return appendAll(b, t)
	case []any:
		return appendList(b, t, nil)
	case ImproperList:
		if len(t.Elems) == 0 {
			return AppendRaw(b, t.Tail)
		}
		return appendList(b, t.Elems, t.Tail)
	case Map:
		b = append(b, tagMap)
		b = binary.BigEndian.AppendUint32(b, uint32(len(t)))
		var err error
		for _, p := range t {
			if b, err = AppendRaw(b, p.Key); err != nil {
				return nil, err
			}
			if b, err = AppendRaw(b, p.Value); err != nil {
				return nil, err
			}
		}
		return b, nil
	case Pid:
		b, err := appendAtom(append(b, tagNewPid), t.Node)
		if err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint32(b, t.ID)
		b = binary.BigEndian.AppendUint32(b, t.Serial)
		return binary.BigEndian.AppendUint32(b, t.Creation), nil
	case Port:
		tag := byte(tagNewPort)
		if t.ID > math.MaxUint32 {
			tag = tagV4Port
		}
		b, err := appendAtom(append(b, tag), t.Node)
		if err != nil {
			return nil, err
		}
		if tag == tagV4Port {
			b = binary.BigEndian.AppendUint64(b, t.ID)
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(t.ID))
		}
		return binary.BigEndian.AppendUint32(b, t.Creation), nil
	case Ref:
		if len(t.ID) == 0 || len(t.ID) > 5 {
			return nil, fmt.Errorf("etf: reference with %d words", len(t.ID))
		}
		b = append(b, tagNewerRef)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.ID)))
		b, err := appendAtom(b, t.Node)
		if err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint32(b, t.Creation)
		for _, w := range t.ID {
			b = binary.BigEndian.AppendUint32(b, w)
		}
		return b, nil
	}
	return nil, fmt.Errorf("etf: cannot encode %T", v)
}

func appendAll(b []byte, elems []any) ([]byte, error) {
	var err error
	for _, e := range elems {
		if b, err = AppendRaw(b, e); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendList(b []byte, elems []any, tail any) ([]byte, error) {
	if len(elems) == 0 {
		return append(b, tagNil), nil
	}
	b = append(b, tagList)
	b = binary.BigEndian.AppendUint32(b, uint32(len(elems)))
	b, err := appendAll(b, elems)
	if err != nil {
		return nil, err
	}
	if tail == nil {
		return append(b, tagNil), nil
	}
	return AppendRaw(b, tail)
}

func appendAtom(b []byte, a Atom) ([]byte, error) {
	if !utf8.ValidString(string(a)) || utf8.RuneCountInString(string(a)) > 255 {
		return nil, fmt.Errorf("etf: invalid atom %q", a)
	}
	if len(a) < 256 {
		b = append(b, tagSmallAtomUTF8, byte(len(a)))
	} else {
		b = append(b, tagAtomUTF8)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a)))
	}
	return append(b, a...), nil
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= math.MaxUint8:
		return append(b, tagSmallInteger, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		b = append(b, tagInteger)
		return binary.BigEndian.AppendUint32(b, uint32(int32(v)))
	}
	return appendBig(b, big.NewInt(v))
}

func appendBig(b []byte, v *big.Int) []byte {
	be := new(big.Int).Abs(v).Bytes()
	if len(be) < 256 {
		b = append(b, tagSmallBig, byte(len(be)))
	} else {
		b = append(b, tagLargeBig)
		b = binary.BigEndian.AppendUint32(b, uint32(len(be)))
	}
	if v.Sign() < 0 {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for i := len(be) - 1; i >= 0; i-- {
		b = append(b, be[i])
	}
	return b
}

func appendBinary(b []byte, s []byte) []byte {
	b = append(b, tagBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendCharlist uses STRING_EXT when every code point fits a byte, as
// term_to_binary does, and a list of integers otherwise.
func appendCharlist(b []byte, s Charlist) []byte {
	rs := []rune(string(s))
	short := len(rs) > 0 && len(rs) <= math.MaxUint16
	for _, r := range rs {
		if r > 255 {
			short = false
			break
		}
	}
	if short {
		b = append(b, tagString)
		b = binary.BigEndian.AppendUint16(b, uint16(len(rs)))
		for _, r := range rs {
			b = append(b, byte(r))
		}
		return b
	}
	if len(rs) == 0 {
		return append(b, tagNil)
	}
	b = append(b, tagList)
	b = binary.BigEndian.AppendUint32(b, uint32(len(rs)))
	for _, r := range rs {
		b = appendInt(b, int64(r))
	}
	return append(b, tagNil)
}
