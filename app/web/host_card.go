package web

import (
	"sync"

	"deployex/app/hostinfo"
	"deployex/views"
)

// thisHost does not change while deployex runs, so it is read once.
var thisHost = sync.OnceValue(hostinfo.ReadHost)

// system is what the deployex and host cards show now.
func (s *Server) system() views.System {
	latest, ok := s.Sampler.Latest()
	return views.System{
		Self: s.selfView(latest),
		Host: views.HostView{Host: thisHost(), Sample: latest, Sampled: ok},
	}
}
