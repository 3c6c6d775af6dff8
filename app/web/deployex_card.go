package web

import (
	"deployex/app/hostinfo"
	"deployex/views"
)

// selfView describes deployex itself, its OTP node included.
func (s *Server) selfView(latest hostinfo.Sample) views.SelfView {
	v := views.SelfView{
		Version:        s.Version,
		Started:        s.started,
		RSS:            latest.RSS,
		Distribution:   s.Config.OTPDistribution,
		MTLSConfigured: s.Config.OTPTLSCertPath != "",
	}
	if s.Nodes != nil {
		self := s.Nodes.Self()
		v.NodeError = self.Err
		if self.Name != "" {
			v.Node = &views.NodeView{Name: self.Name, MTLS: self.TLS, CertExpiry: self.CertExpiry}
		}
	}
	return v
}
