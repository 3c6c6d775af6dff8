package otp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ergo-services/ergo/etf"

	"deployex/app/otp/term"
)

// DefaultCallTimeout bounds calls whose context has no deadline.
const DefaultCallTimeout = 5 * time.Second

// ProbeTimeout bounds a Probe whose context has no deadline. A hung (e.g.
// SIGSTOPped) VM keeps its TCP connection, and net ticks take 60 s to notice.
const ProbeTimeout = time.Second

// RemoteError is an exception raised by the called function on the node.
type RemoteError struct {
	Class  string // error, exit or throw
	Reason any    // decoded with package term
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("otp: remote %s: %.500s", e.Class, term.Format(e.Reason))
}

// callForm is the abstract syntax (erl_parse) of
//
//	erlang:term_to_binary(
//	    try {ok, erlang:apply(M, F, erlang:binary_to_term(A))}
//	    catch C:E -> {error, C, E}
//	    end)
//
// evaluated by erl_eval:expr/5 inside rex. The node thus answers every call
// with a binary: whatever the result or exception holds (funs, maps with
// binary keys, ...), ergo only ever decodes a binary, and package term the
// rest. The arguments travel as a binary too (A), encoded by package term.
var callForm = func() etf.Term {
	a := func(name string) etf.Tuple { return etf.Tuple{etf.Atom("atom"), 1, etf.Atom(name)} }
	v := func(name string) etf.Tuple { return etf.Tuple{etf.Atom("var"), 1, etf.Atom(name)} }
	tuple := func(es ...etf.Term) etf.Tuple { return etf.Tuple{etf.Atom("tuple"), 1, etf.List(es)} }
	call := func(mod, fun string, args ...etf.Term) etf.Tuple {
		return etf.Tuple{etf.Atom("call"), 1, etf.Tuple{etf.Atom("remote"), 1, a(mod), a(fun)}, etf.List(args)}
	}
	body := tuple(a("ok"), call("erlang", "apply", v("M"), v("F"), call("erlang", "binary_to_term", v("A"))))
	handler := etf.Tuple{etf.Atom("clause"), 1,
		etf.List{tuple(v("C"), v("E"), v("_"))},
		etf.List{},
		etf.List{tuple(a("error"), v("C"), v("E"))},
	}
	try := etf.Tuple{etf.Atom("try"), 1, etf.List{body}, etf.List{}, etf.List{handler}, etf.List{}}
	return call("erlang", "term_to_binary", try)
}()

// Call runs mod:fun(args...) on node and returns its result decoded by
// package term (see term.Encode for how args map to Erlang). An exception on
// the node is a *RemoteError; an answer that cannot be decoded fails this
// call only, the connection stays up.
func (n *Node) Call(ctx context.Context, node, mod, fun string, args ...any) (any, error) {
	if args == nil {
		args = []any{}
	}
	encoded, err := term.Encode(args)
	if err != nil {
		return nil, fmt.Errorf("otp: arguments of %s:%s: %w", mod, fun, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	if !n.Connected(node) {
		if err := n.Connect(ctx, node); err != nil {
			return nil, err
		}
	}
	// erl_eval reads bindings as an orddict: sorted by variable name.
	bindings := etf.List{
		etf.Tuple{etf.Atom("A"), encoded},
		etf.Tuple{etf.Atom("F"), etf.Atom(fun)},
		etf.Tuple{etf.Atom("M"), etf.Atom(mod)},
	}
	request := etf.Tuple{etf.Atom("call"), etf.Atom("erl_eval"), etf.Atom("expr"),
		etf.List{callForm, bindings, etf.Atom("none"), etf.Atom("none"), etf.Atom("value")},
		etf.Atom("user")}
	raw, err := n.courier.genCall(ctx, node, "rex", request)
	if err != nil {
		return nil, fmt.Errorf("otp: %s:%s on %s: %w", mod, fun, node, err)
	}
	bin, ok := raw.([]byte)
	if !ok {
		// rex itself failed (e.g. {badrpc, _}); ergo decoded that much already.
		return nil, fmt.Errorf("otp: %s:%s on %s: unexpected answer %.300v", mod, fun, node, raw)
	}
	v, err := term.Decode(bin)
	if err != nil {
		return nil, fmt.Errorf("otp: %s:%s on %s: undecodable answer: %w", mod, fun, node, err)
	}
	if t, ok := v.(term.Tuple); ok {
		switch {
		case len(t) == 2 && t[0] == term.Atom("ok"):
			return t[1], nil
		case len(t) == 3 && t[0] == term.Atom("error"):
			class, _ := term.Text(t[1])
			return nil, &RemoteError{Class: class, Reason: t[2]}
		}
	}
	return nil, fmt.Errorf("otp: %s:%s on %s: malformed answer %.300s", mod, fun, node, term.Format(v))
}

// Eval evaluates Erlang expressions ("X = 1, X + 1.") on node with
// erl_eval and returns the value of the last one. A missing final dot is added.
func (n *Node) Eval(ctx context.Context, node, expr string) (any, error) {
	src := strings.TrimSpace(expr)
	if !strings.HasSuffix(src, ".") {
		src += "."
	}
	// eval_str wants the dot followed by white space.
	v, err := n.Call(ctx, node, "erl_eval", "eval_str", src+"\n")
	if err != nil {
		return nil, err
	}
	if t, ok := v.(term.Tuple); ok && len(t) == 2 {
		switch t[0] {
		case term.Atom("ok"):
			return t[1], nil
		case term.Atom("error"):
			msg, _ := term.Text(t[1])
			return nil, fmt.Errorf("otp: eval on %s: %s", node, msg)
		}
	}
	return nil, fmt.Errorf("otp: eval on %s: malformed answer %.300s", node, term.Format(v))
}

// Probe checks that node answers over distribution within the context's
// deadline (ProbeTimeout without one). It goes through rex and erl_eval, so
// a node whose schedulers are stuck fails it even while its socket is open.
// It fits the supervisor's stability check: func(ctx, node) error.
func (n *Node) Probe(ctx context.Context, node string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ProbeTimeout)
		defer cancel()
	}
	v, err := n.Call(ctx, node, "erlang", "node")
	if err != nil {
		return err
	}
	if v != term.Atom(node) {
		return fmt.Errorf("otp: probe: %s answered as %s", node, term.Format(v))
	}
	return nil
}
