package otp

import (
	"context"
	"fmt"
	"time"

	"deployex/app/otp/term"
)

// NodeInfo is what the dashboard and the API show about a running node.
type NodeInfo struct {
	Node        string
	OSPid       int64
	OTPRelease  string // "27"
	ERTSVersion string // "15.2.7"
	// ElixirVersion is empty when Elixir is not loaded.
	ElixirVersion string
	Memory        Memory
	ProcessCount  int64
	ProcessLimit  int64
	PortCount     int64
	PortLimit     int64
	AtomCount     int64
	AtomLimit     int64
	Uptime        time.Duration
	// Applications maps each loaded application to its version.
	Applications map[string]string
}

// Memory is erlang:memory/0 in bytes.
type Memory struct {
	Total, Processes, Binary, ETS, Atom int64
}

// infoExpr gathers everything in one round trip. Elixir's version comes from
// its application key, so nodes without Elixir answer undefined.
const infoExpr = `
Mem = erlang:memory(),
#{node => node(),
  os_pid => list_to_integer(os:getpid()),
  otp_release => erlang:system_info(otp_release),
  erts => erlang:system_info(version),
  elixir => case application:get_key(elixir, vsn) of {ok, V} -> V; undefined -> undefined end,
  memory => maps:with([total, processes, binary, ets, atom], maps:from_list(Mem)),
  process_count => erlang:system_info(process_count),
  process_limit => erlang:system_info(process_limit),
  port_count => erlang:system_info(port_count),
  port_limit => erlang:system_info(port_limit),
  atom_count => erlang:system_info(atom_count),
  atom_limit => erlang:system_info(atom_limit),
  uptime_ms => element(1, erlang:statistics(wall_clock)),
  applications => [{A, Vsn} || {A, _, Vsn} <- application:loaded_applications()]}.`

// Info reads node's runtime facts in one call.
func (n *Node) Info(ctx context.Context, node string) (NodeInfo, error) {
	v, err := n.Eval(ctx, node, infoExpr)
	if err != nil {
		return NodeInfo{}, err
	}
	m, ok := v.(term.Map)
	if !ok {
		return NodeInfo{}, fmt.Errorf("otp: info of %s: not a map: %.200s", node, term.Format(v))
	}
	text := func(k string) string {
		x, _ := m.Get(term.Atom(k))
		s, _ := term.Text(x)
		if s == "undefined" {
			return ""
		}
		return s
	}
	num := func(mm term.Map, k string) int64 {
		x, _ := mm.Get(term.Atom(k))
		i, _ := term.Int(x)
		return i
	}
	info := NodeInfo{
		Node:          text("node"),
		OSPid:         num(m, "os_pid"),
		OTPRelease:    text("otp_release"),
		ERTSVersion:   text("erts"),
		ElixirVersion: text("elixir"),
		ProcessCount:  num(m, "process_count"),
		ProcessLimit:  num(m, "process_limit"),
		PortCount:     num(m, "port_count"),
		PortLimit:     num(m, "port_limit"),
		AtomCount:     num(m, "atom_count"),
		AtomLimit:     num(m, "atom_limit"),
		Uptime:        time.Duration(num(m, "uptime_ms")) * time.Millisecond,
		Applications:  map[string]string{},
	}
	if mem, ok := m.Get(term.Atom("memory")); ok {
		mm, _ := mem.(term.Map)
		info.Memory = Memory{
			Total:     num(mm, "total"),
			Processes: num(mm, "processes"),
			Binary:    num(mm, "binary"),
			ETS:       num(mm, "ets"),
			Atom:      num(mm, "atom"),
		}
	}
	apps, _ := m.Get(term.Atom("applications"))
	list, _ := apps.([]any)
	for _, e := range list {
		if t, ok := e.(term.Tuple); ok && len(t) == 2 {
			name, _ := term.Text(t[0])
			vsn, _ := term.Text(t[1])
			info.Applications[name] = vsn
		}
	}
	return info, nil
}
