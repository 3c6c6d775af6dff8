package otp

import (
	"log"
	"log/slog"
	"strings"
	"sync"
)

var routeErgoOnce sync.Once

// routeErgoLog sends what ergo prints through the standard log package
// ("WARNING! Could not connect …") to deployex's structured log. The first
// logger wins: the standard log is process-wide. slog's default logger
// writes through the standard log itself, so it is never routed there.
func routeErgoLog(l *slog.Logger) {
	if l.Handler() == slog.Default().Handler() {
		return
	}
	routeErgoOnce.Do(func() {
		log.SetFlags(0)
		log.SetOutput(ergoLogWriter{l.With("component", "ergo")})
	})
}

type ergoLogWriter struct{ log *slog.Logger }

func (w ergoLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	switch {
	case strings.Contains(line, "as a map key") && strings.Contains(line, "connection_id"):
		// OTP 25+ net_kernel sends, once per connection, a map keyed by
		// {connection_id, Node} that ergo cannot hold; deployex never reads
		// it, and a warning per connected replica would only alarm operators.
	case strings.HasPrefix(line, "WARNING! "):
		w.log.Warn(strings.TrimPrefix(line, "WARNING! "))
	default:
		w.log.Info(line)
	}
	return len(p), nil
}
