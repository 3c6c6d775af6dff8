package term

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Format renders a decoded term in Erlang syntax, for error messages and
// for showing eval results to people.
func Format(v any) string {
	var b strings.Builder
	format(&b, v)
	return b.String()
}

func format(b *strings.Builder, v any) {
	switch t := v.(type) {
	case Atom:
		b.WriteString(quoteAtom(string(t)))
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case *big.Int:
		b.WriteString(t.String())
	case float64:
		b.WriteString(strconv.FormatFloat(t, 'g', -1, 64))
	case string:
		b.WriteString("<<")
		b.WriteString(strconv.Quote(t))
		b.WriteString(">>")
	case Charlist:
		b.WriteString(strconv.Quote(string(t)))
	case Bitstring:
		fmt.Fprintf(b, "<<%d bytes and %d bits>>", len(t.Bytes)-1, t.Bits)
	case Tuple:
		b.WriteByte('{')
		formatSeq(b, t)
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		formatSeq(b, t)
		b.WriteByte(']')
	case ImproperList:
		b.WriteByte('[')
		formatSeq(b, t.Elems)
		b.WriteString(" | ")
		format(b, t.Tail)
		b.WriteByte(']')
	case Map:
		b.WriteString("#{")
		for i, p := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			format(b, p.Key)
			b.WriteString(" => ")
			format(b, p.Value)
		}
		b.WriteByte('}')
	case Pid:
		fmt.Fprintf(b, "<%s.%d.%d>", t.Node, t.ID, t.Serial)
	case Port:
		fmt.Fprintf(b, "#Port<%s.%d>", t.Node, t.ID)
	case Ref:
		fmt.Fprintf(b, "#Ref<%s.%v>", t.Node, t.ID)
	case Fun:
		if t.Name != "" {
			fmt.Fprintf(b, "fun %s:%s/%d", quoteAtom(string(t.Module)), quoteAtom(string(t.Name)), t.Arity)
		} else {
			fmt.Fprintf(b, "#Fun<%s>", t.Module)
		}
	default:
		fmt.Fprintf(b, "%v", v)
	}
}

func formatSeq(b *strings.Builder, elems []any) {
	for i, e := range elems {
		if i > 0 {
			b.WriteString(", ")
		}
		format(b, e)
	}
}

// quoteAtom quotes atoms that would not read back unquoted.
func quoteAtom(a string) string {
	plain := a != "" && a[0] >= 'a' && a[0] <= 'z'
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '@') {
			plain = false
			break
		}
	}
	if plain {
		return a
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(a, `\`, `\\`), "'", `\'`) + "'"
}
