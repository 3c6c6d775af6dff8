// Package views holds the templ components of every page. Pages and the SSE
// fragments share the same partials, so a live update renders exactly what a
// reload would.
package views

import (
	"fmt"
	"time"

	"deployex/app"
)

// Page is what the layout needs on every page.
type Page struct {
	Title       string
	User        string
	Role        app.Role
	CSRF        string
	LocalBanner bool // the default local admin password is in use
	Nav         string
	Version     string
}

// CanOperate says whether restart and set-version controls are shown.
func (p Page) CanOperate() bool { return p.Role.Allows(app.RoleOperator) }

// IsAdmin says whether user management and backups are shown.
func (p Page) IsAdmin() bool { return p.Role.Allows(app.RoleAdmin) }

// AppView is one monitored app as the dashboard shows it.
type AppView struct {
	Spec           app.Spec
	Mode           app.Mode
	ManualVersion  string
	Ghosted        []string
	Instances      []InstanceView
	LastDeployment *Deployment
	Deploy         DeployStatus
}

// InstanceView is one replica's card: what the supervisor and the OTP node
// say now, and what the history says of its last deployment.
type InstanceView struct {
	app.Instance
	MTLS           bool // the distribution to it runs over mutual TLS
	LastDeployment *Deployment
}

// DeployStatus is what the deployer reports about an app right now.
type DeployStatus struct {
	Target      string
	Activity    string
	SourceError string
	Problem     string
}

// Running lists the distinct versions the replicas run, in replica order.
func (a AppView) Running() []string {
	var out []string
	seen := map[string]bool{}
	for _, i := range a.Instances {
		if i.Version != "" && !seen[i.Version] {
			seen[i.Version] = true
			out = append(out, i.Version)
		}
	}
	return out
}

// Deployment is one row of the version history.
type Deployment struct {
	Version  string
	Instance int
	Kind     string
	Trigger  string
	Result   string
	Error    string
	Started  time.Time
	Finished *time.Time
}

// UserRow is one user on the users page.
type UserRow struct {
	Name    string
	Role    app.Role
	Created time.Time
}

// AuditRow is one audit log entry.
type AuditRow struct {
	ID     int64
	At     time.Time
	Actor  string
	Action string
	Target string
	Result string
	Detail string
}

func instanceID(appName string, n int) string { return fmt.Sprintf("instance-%s-%d", appName, n) }

func statusClass(s app.Status) string { return "status status-" + string(s) }

func exactTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// ago renders a duration the way people read it on a dashboard.
func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return Duration(now.Sub(t)) + " ago"
}

// expiryText says when a certificate expires, or that it has.
func expiryText(t, now time.Time) string {
	if t.After(now) {
		return "expires in " + Duration(t.Sub(now))
	}
	return "expired " + ago(t, now)
}

// Duration renders d coarsely: "42 s", "5 min", "3 h", "2 d".
func Duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	default:
		return fmt.Sprintf("%d d", int(d.Hours()/24))
	}
}
