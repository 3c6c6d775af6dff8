package deployer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The deployer reads appup and relup files (Erlang terms as text, what
// file:consult/1 reads) to decide on a hot upgrade before it touches the
// node. This reader covers what those files hold: atoms, strings, binaries,
// numbers, characters, tuples, lists and maps, with % comments.

type (
	erlAtom   string
	erlBinary string // <<"...">>: an appup's version regular expression
	erlTuple  []any
	erlList   []any
)

// consultTerms parses the dot-terminated terms of src.
func consultTerms(src string) ([]any, error) {
	p := &termParser{src: src}
	var terms []any
	for {
		p.skipSpace()
		if p.pos == len(p.src) {
			return terms, nil
		}
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.eat(".") {
			return nil, p.errorf("want '.' after a term")
		}
		terms = append(terms, t)
	}
}

type termParser struct {
	src string
	pos int
}

func (p *termParser) errorf(format string, args ...any) error {
	line := 1 + strings.Count(p.src[:p.pos], "\n")
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

func (p *termParser) skipSpace() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '%':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *termParser) eat(tok string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *termParser) term() (any, error) {
	p.skipSpace()
	if p.pos == len(p.src) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		p.pos++
		elems, _, err := p.sequence("}", false)
		return erlTuple(elems), err
	case c == '[':
		p.pos++
		elems, tail, err := p.sequence("]", true)
		if tail != nil {
			elems = append(elems, tail) // an improper tail: kept as the last element
		}
		return erlList(elems), err
	case strings.HasPrefix(p.src[p.pos:], "#{"):
		p.pos += 2
		return p.mapTerm()
	case strings.HasPrefix(p.src[p.pos:], "<<"):
		p.pos += 2
		return p.binary()
	case c == '"':
		return p.quoted('"')
	case c == '\'':
		s, err := p.quoted('\'')
		return erlAtom(s), err
	case c == '$':
		p.pos++
		r, err := p.char()
		return int64(r), err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c >= 'a' && c <= 'z':
		start := p.pos
		for p.pos < len(p.src) && isAtomChar(p.src[p.pos]) {
			p.pos++
		}
		return erlAtom(p.src[start:p.pos]), nil
	}
	return nil, p.errorf("unexpected %q", p.src[p.pos])
}

func isAtomChar(c byte) bool {
	return c == '_' || c == '@' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// sequence reads comma-separated terms up to end; a list may end in "| Tail".
func (p *termParser) sequence(end string, list bool) (elems []any, tail any, err error) {
	if p.eat(end) {
		return nil, nil, nil
	}
	for {
		t, err := p.term()
		if err != nil {
			return nil, nil, err
		}
		elems = append(elems, t)
		switch {
		case p.eat(","):
		case list && p.eat("|"):
			if tail, err = p.term(); err != nil {
				return nil, nil, err
			}
			if !p.eat(end) {
				return nil, nil, p.errorf("want %q after a list tail", end)
			}
			return elems, tail, nil
		case p.eat(end):
			return elems, nil, nil
		default:
			return nil, nil, p.errorf("want ',' or %q", end)
		}
	}
}

// mapTerm reads the pairs of #{K => V, ...} as a list of 2-tuples: nothing
// the deployer reads is a map, it only has to get past one.
func (p *termParser) mapTerm() (any, error) {
	var pairs erlList
	if p.eat("}") {
		return pairs, nil
	}
	for {
		k, err := p.term()
		if err != nil {
			return nil, err
		}
		if !p.eat("=>") {
			return nil, p.errorf("want '=>' in a map")
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, erlTuple{k, v})
		if p.eat("}") {
			return pairs, nil
		}
		if !p.eat(",") {
			return nil, p.errorf("want ',' or '}' in a map")
		}
	}
}

// binary reads <<"text">> (the only binary form a version pattern takes) or <<>>.
func (p *termParser) binary() (any, error) {
	if p.eat(">>") {
		return erlBinary(""), nil
	}
	p.skipSpace()
	if p.pos == len(p.src) || p.src[p.pos] != '"' {
		return nil, p.errorf("only <<\"string\">> binaries are supported")
	}
	s, err := p.quoted('"')
	if err != nil {
		return nil, err
	}
	if !p.eat(">>") {
		return nil, p.errorf("want '>>'")
	}
	return erlBinary(s), nil
}

func (p *termParser) quoted(q byte) (string, error) {
	p.pos++ // the opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case q:
			p.pos++
			return b.String(), nil
		case '\\':
			p.pos++
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		default:
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			b.WriteRune(r)
			p.pos += size
		}
	}
	return "", p.errorf("unterminated %c", q)
}

// char reads what follows $ in a character literal.
func (p *termParser) char() (rune, error) {
	if p.pos == len(p.src) {
		return 0, p.errorf("unexpected end after $")
	}
	if p.src[p.pos] == '\\' {
		p.pos++
		return p.escape()
	}
	r, size := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += size
	return r, nil
}

var simpleEscapes = map[byte]rune{'n': '\n', 't': '\t', 'r': '\r', 's': ' ', 'e': 27, 'b': '\b', 'f': '\f', 'v': '\v', 'd': 127}

// escape reads the rest of a backslash escape.
func (p *termParser) escape() (rune, error) {
	if p.pos == len(p.src) {
		return 0, p.errorf("unexpected end in an escape")
	}
	c := p.src[p.pos]
	p.pos++
	if r, ok := simpleEscapes[c]; ok {
		return r, nil
	}
	switch {
	case c >= '0' && c <= '7':
		start := p.pos - 1
		for p.pos < len(p.src) && p.pos-start < 3 && p.src[p.pos] >= '0' && p.src[p.pos] <= '7' {
			p.pos++
		}
		n, _ := strconv.ParseInt(p.src[start:p.pos], 8, 32)
		return rune(n), nil
	case c == 'x':
		var digits string
		if p.pos < len(p.src) && p.src[p.pos] == '{' {
			end := strings.IndexByte(p.src[p.pos:], '}')
			if end < 0 {
				return 0, p.errorf("unterminated \\x{")
			}
			digits, p.pos = p.src[p.pos+1:p.pos+end], p.pos+end+1
		} else if p.pos+2 <= len(p.src) {
			digits, p.pos = p.src[p.pos:p.pos+2], p.pos+2
		}
		n, err := strconv.ParseInt(digits, 16, 32)
		if err != nil {
			return 0, p.errorf("bad \\x escape %q", digits)
		}
		return rune(n), nil
	case c == '^':
		if p.pos == len(p.src) {
			return 0, p.errorf("unexpected end in \\^")
		}
		p.pos++
		return rune(p.src[p.pos-1] & 31), nil
	}
	return rune(c), nil // \\, \", \' and any other character stand for themselves
}

func (p *termParser) number() (any, error) {
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		// Digits, a radix (16#ff), a fraction, an exponent and _ separators.
		if unicode.IsDigit(rune(c)) || c == '#' || c == '_' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' ||
			c == 'e' || c == 'E' || (c == '.' && p.pos+1 < len(p.src) && unicode.IsDigit(rune(p.src[p.pos+1]))) ||
			((c == '-' || c == '+') && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E')) {
			p.pos++
			continue
		}
		break
	}
	text := strings.ReplaceAll(p.src[start:p.pos], "_", "")
	if base, digits, ok := strings.Cut(text, "#"); ok {
		b, err := strconv.Atoi(base)
		if err != nil {
			return nil, p.errorf("bad number %q", text)
		}
		n, err := strconv.ParseInt(digits, b, 64)
		if err != nil {
			return nil, p.errorf("bad number %q", text)
		}
		return n, nil
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, errors.Join(p.errorf("bad number %q", text), err)
	}
	return f, nil
}
