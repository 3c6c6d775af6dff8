package web

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"deployex/app/events"
	"deployex/views"
)

// sseKeepAlive keeps proxies from closing an idle stream and notices gone clients.
const sseKeepAlive = 15 * time.Second

// eventStream sends the dashboard's cards as rendered partials over SSE: all
// of them at connect (so a reconnecting browser catches up), then each card
// whose state changed, and the deployex and host cards at every sample.
// Events only say what changed; the current state is read when rendering, so
// bursts coalesce and a lost event costs one refresh, not a stale card.
func (s *Server) eventStream(c *fiber.Ctx) error {
	p := s.page(c, "", "")
	sub := s.Bus.Subscribe(256, nil)
	// One sample of room: a stream that is late gets the newest state anyway.
	samples := s.Sampler.Subscribe(1)
	streamSSE(c, func(w *sseWriter) {
		defer sub.Close()
		defer samples.Close()
		st := &sseState{s: s, page: p, w: w, dirty: map[events.Event]bool{}}
		if st.sendAll() != nil {
			return
		}
		keepAlive := time.NewTicker(sseKeepAlive)
		defer keepAlive.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-keepAlive.C:
				w.ping()
				if w.flush() != nil {
					return
				}
			case <-samples.C:
				if st.sendSystem() != nil || w.flush() != nil {
					return
				}
			case e, ok := <-sub.C:
				if !ok {
					return
				}
				st.mark(e)
				for drained := false; !drained; { // coalesce whatever else is queued
					select {
					case e := <-sub.C:
						st.mark(e)
					default:
						drained = true
					}
				}
				var err error
				if sub.Dropped() > 0 {
					err = st.sendAll()
				} else {
					err = st.sendDirty()
				}
				if err != nil {
					return
				}
			}
		}
	})
	return nil
}

type sseState struct {
	s     *Server
	page  views.Page
	w     *sseWriter
	dirty map[events.Event]bool // keyed by App and Instance only
	buf   bytes.Buffer
}

func (st *sseState) mark(e events.Event) {
	st.dirty[events.Event{App: e.App, Instance: e.Instance}] = true
}

func (st *sseState) sendAll() error {
	if err := st.sendSystem(); err != nil {
		return err
	}
	clear(st.dirty)
	for _, spec := range st.s.Config.Apps {
		st.dirty[events.Event{App: spec.Name}] = true
	}
	return st.sendDirty()
}

// sendSystem refreshes the deployex and host cards; the caller flushes.
func (st *sseState) sendSystem() error {
	sys := st.s.system()
	if err := st.send("deployex-card", views.SelfCard(sys.Self, time.Now())); err != nil {
		return err
	}
	return st.send("host-card", views.HostCard(sys.Host))
}

// sendDirty renders every marked app once; an app-wide mark refreshes its
// meta line and all its cards.
func (st *sseState) sendDirty() error {
	ctx := context.Background()
	apps := map[string]map[int]bool{}
	for e := range st.dirty {
		if apps[e.App] == nil {
			apps[e.App] = map[int]bool{}
		}
		apps[e.App][e.Instance] = true
	}
	clear(st.dirty)
	now := time.Now()
	for name, which := range apps {
		spec, ok := st.s.Config.App(name)
		if !ok {
			continue
		}
		whole := which[0]
		var insts []views.InstanceView
		if whole {
			v, err := st.s.appView(ctx, spec)
			if err != nil {
				st.s.Log.Error("sse: reading app state", "app", name, "err", err)
				continue
			}
			if err := st.send("meta-"+name, views.AppMeta(v, now)); err != nil {
				return err
			}
			insts = v.Instances
		} else {
			var err error
			if insts, err = st.s.instanceViews(ctx, name); err != nil {
				st.s.Log.Error("sse: reading replica state", "app", name, "err", err)
				continue
			}
		}
		for _, inst := range insts {
			if whole || which[inst.Instance.Instance] {
				if err := st.send(fmt.Sprintf("instance-%s-%d", name, inst.Instance.Instance), views.InstanceCard(st.page, name, inst, now)); err != nil {
					return err
				}
			}
		}
	}
	return st.w.flush()
}

// send writes one SSE event whose data is the rendered component.
func (st *sseState) send(name string, comp templ.Component) error {
	st.buf.Reset()
	if err := comp.Render(context.Background(), &st.buf); err != nil {
		return err
	}
	st.w.event(name, st.buf.Bytes())
	return nil
}
