// Package web is deployex's HTTP face: the admin pages (Fiber + templ + htmx),
// the JSON API and the health check. It reads state from the owners (database,
// supervisor, deployer) and asks them to act; it never starts processes itself.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"deployex/app"
	"deployex/app/auth"
	"deployex/app/config"
	"deployex/app/deployer"
	"deployex/app/events"
	"deployex/app/hostinfo"
	"deployex/app/logtail"
	"deployex/app/nodes"
	"deployex/app/otp"
	"deployex/db"
	"deployex/static"
)

// Fleet answers questions about replicas and restarts them; the supervisor
// implements it.
type Fleet interface {
	Instances(appName string) []app.Instance
	Restart(ctx context.Context, appName string, n int, actor string) error
	RestartApp(ctx context.Context, appName, actor string) error
}

// Deployments is what the web asks of the deployer.
type Deployments interface {
	Status(appName string) deployer.Status
	SetMode(ctx context.Context, appName string, mode app.Mode, version, actor string) error
	ClearGhost(ctx context.Context, appName, version, actor string) error
	Choices(ctx context.Context, appName string) ([]deployer.Choice, error)
}

// Nodes is deployex's own OTP node as the web sees it (package nodes).
type Nodes interface {
	Self() nodes.Self
	Info(ctx context.Context, appName string, n int) (otp.NodeInfo, error)
	MemoryHistory() []nodes.MemoryHistory
}

// Deps are the parts the web server reads from and talks to.
type Deps struct {
	Config   *config.Config
	Store    *db.Store
	Fleet    Fleet
	Nodes    Nodes // nil when DEPLOYEX_OTP_DISTRIBUTION is false
	Deployer Deployments
	Bus      *events.Bus
	Log      *slog.Logger
	Version  string
	Sampler  *hostinfo.Sampler // host and deployex vitals, already running
	Tailer   *logtail.Tailer   // follows the replicas' log files for every viewer
}

// Server is the configured Fiber app.
type Server struct {
	Deps
	fiber    *fiber.App
	sessions *scs.SessionManager
	store    *sqlite3store.SQLite3Store
	limiter  *auth.Limiter
	started  time.Time
	done     chan struct{} // closed at shutdown so streams end at once
	logHTML  *logHTMLCache // live log lines rendered once for every viewer
}

// New builds the server and its routes.
func New(d Deps) *Server {
	s := &Server{Deps: d, limiter: auth.NewLimiter(5, time.Minute), started: time.Now(), done: make(chan struct{}),
		logHTML: newLogHTMLCache()}
	s.store = sqlite3store.NewWithCleanupInterval(d.Store.DB, 10*time.Minute)
	s.sessions = scs.New()
	s.sessions.Store = s.store
	s.sessions.Lifetime = d.Config.SessionMax
	// The idle timeout is checked in requireUser (see seenRefresh).
	s.sessions.Cookie.Name = "deployex_session"
	s.sessions.Cookie.HttpOnly = true
	s.sessions.Cookie.SameSite = http.SameSiteLaxMode
	s.sessions.Cookie.Persist = false

	cfg := fiber.Config{
		AppName:               "deployex",
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		ReadTimeout:           15 * time.Second,
		IdleTimeout:           75 * time.Second,
		BodyLimit:             1 << 20,
	}
	if d.Config.BehindTLSProxy {
		cfg.ProxyHeader = fiber.HeaderXForwardedFor
	}
	s.fiber = fiber.New(cfg)
	s.routes()
	return s
}

func (s *Server) routes() {
	f := s.fiber
	f.Use(recover.New())
	f.Use(securityHeaders)
	f.Get("/health", s.health)
	// Every asset address changes with its content (static.URL, versioned
	// vendor names), so browsers may keep them for long.
	f.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(static.FS), MaxAge: 30 * 24 * 3600}))

	// Role checks are per route: a group-level check would also guard the
	// not-found fallbacks registered after it.
	operator, admin := requireRole(app.RoleOperator), requireRole(app.RoleAdmin)

	api := f.Group("/api/v1", s.requireToken)
	api.Get("/apps", s.apiApps)
	api.Get("/apps/:app/versions", s.apiVersions)
	api.Post("/apps/:app/instances/:n/restart", operator, s.restartInstance)
	api.Get("/apps/:app/instances/:n/info", s.apiNodeInfo)
	api.Post("/apps/:app/restart", operator, s.restartApp)
	api.Put("/apps/:app/mode", operator, s.setMode)
	api.Delete("/apps/:app/ghosts/:version", operator, s.clearGhost)
	api.Delete("/apps/:app/ghosts", operator, s.clearGhost)
	api.Use(s.notFound) // JSON 404s instead of falling through to the login redirect

	f.Get("/metrics", s.tokenOrSession, s.requireUserUnlessToken, s.metrics)

	pages := f.Group("", s.loadSession, s.checkCSRF)
	pages.Get("/login", s.loginForm)
	pages.Post("/login", s.login)
	pages.Post("/logout", s.logout)

	user := pages.Group("", s.requireUser)
	user.Get("/", s.dashboard)
	user.Get("/audit", s.auditLog)
	user.Get("/events", s.eventStream)
	user.Get("/host", s.hostPage)
	user.Get("/host/history", s.hostHistory)
	user.Get("/host/live", s.hostLive)
	user.Get("/host/beam/history", s.hostBEAMHistory)
	user.Get("/logs", s.logsFollow)
	user.Get("/logs/live", s.logsFollowLive)
	user.Get("/apps/:app/instances/:n/logs/:stream", s.logPage)
	user.Get("/apps/:app/instances/:n/logs/:stream/live", s.logLive)
	user.Get("/apps/:app/instances/:n/logs/:stream/download", s.logDownload)
	user.Post("/apps/:app/instances/:n/restart", operator, s.restartInstance)
	user.Post("/apps/:app/restart", operator, s.restartApp)
	user.Get("/apps/:app/versions", s.versionsPage)
	user.Post("/apps/:app/mode", operator, s.setMode)
	user.Get("/apps/:app/ghosts", s.ghostsPage)
	user.Post("/apps/:app/ghosts/:version/delete", operator, s.clearGhost)
	user.Post("/apps/:app/ghosts/delete", operator, s.clearGhost)
	user.Get("/users", admin, s.userList)
	user.Post("/users", admin, s.userCreate)
	user.Post("/users/:name/password", admin, s.userPassword)
	user.Post("/users/:name/delete", admin, s.userDelete)
	user.Get("/backup", admin, s.backupDownload)

	f.Use(s.notFound)
}

// Serve answers on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.fiber.Listener(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits up to the context's deadline
// for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.store.StopCleanup()
	close(s.done)
	return s.fiber.ShutdownWithContext(ctx)
}
