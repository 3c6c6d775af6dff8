// Package app holds the domain types every other package speaks: monitored
// applications, their replicas, statuses, deployment kinds and user roles.
// It has no dependencies on the rest of the program.
package app

import (
	"fmt"
	"regexp"
	"time"
)

// Language decides how a release is started and which deployment kinds it supports.
type Language string

const (
	Elixir Language = "elixir"
	Erlang Language = "erlang"
	Gleam  Language = "gleam"
)

// ParseLanguage accepts the three supported languages and nothing else.
func ParseLanguage(s string) (Language, error) {
	switch l := Language(s); l {
	case Elixir, Erlang, Gleam:
		return l, nil
	}
	return "", fmt.Errorf("unknown language %q (want elixir, erlang or gleam)", s)
}

// PortSpec exports Key=Base+n-1 to replica n (upstream's replica_ports).
type PortSpec struct {
	Key  string
	Base int
}

// EnvVar is one KEY=value pair from the app's configured environment.
type EnvVar struct {
	Key   string
	Value string
}

// Spec is one monitored application as configured.
type Spec struct {
	Name     string
	Language Language
	Replicas int
	// Ports holds at least one entry; the first is the "PORT" shown in the UI.
	Ports                  []PortSpec
	Env                    []EnvVar
	DeployRollbackTimeout  time.Duration
	DeployScheduleInterval time.Duration
}

// Port returns the primary port of replica n (1-based).
func (s Spec) Port(n int) int {
	if len(s.Ports) == 0 {
		return 0
	}
	return s.Ports[0].Base + n - 1
}

// PortEnv returns the KEY=value pairs for every port of replica n.
func (s Spec) PortEnv(n int) []string {
	out := make([]string, 0, len(s.Ports))
	for _, p := range s.Ports {
		out = append(out, fmt.Sprintf("%s=%d", p.Key, p.Base+n-1))
	}
	return out
}

// nameRE is what an Erlang atom, a path segment and a node name part all accept.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidName refuses app names that cannot be an unquoted atom or a safe path segment.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid app name %q: use a lowercase letter then [a-z0-9_], at most 63 characters", name)
	}
	return nil
}

// NodeShortName is the distribution name of replica n, without the host part.
func NodeShortName(app string, n int) string { return fmt.Sprintf("%s-%d", app, n) }

// Status is the supervisor's view of one replica.
type Status string

const (
	StatusIdle        Status = "idle"
	StatusStarting    Status = "starting"
	StatusRunning     Status = "running"
	StatusPreCommands Status = "pre_commands"
	StatusBackoff     Status = "backoff"
	StatusStopping    Status = "stopping"
	StatusStopped     Status = "stopped"
)

// DeploymentKind is how a version reached a replica.
type DeploymentKind string

const (
	FullDeployment DeploymentKind = "full_deployment"
	HotUpgrade     DeploymentKind = "hot_upgrade"
	Rollback       DeploymentKind = "rollback"
	Manual         DeploymentKind = "manual"
)

// Mode says whether the deployer follows the bucket or holds a pinned version.
type Mode string

const (
	ModeAutomatic Mode = "automatic"
	ModeManual    Mode = "manual"
)

// Role orders what a user may do: viewer < operator < admin.
type Role string

const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

var roleRank = map[Role]int{RoleViewer: 1, RoleOperator: 2, RoleAdmin: 3}

// ParseRole accepts admin, operator or viewer.
func ParseRole(s string) (Role, error) {
	if _, ok := roleRank[Role(s)]; !ok {
		return "", fmt.Errorf("unknown role %q (want admin, operator or viewer)", s)
	}
	return Role(s), nil
}

// Allows reports whether r has at least the rights of min.
func (r Role) Allows(min Role) bool { return roleRank[r] >= roleRank[min] && roleRank[r] > 0 }

// Instance is a point-in-time view of one replica, as the supervisor sees it.
type Instance struct {
	App      string `json:"-"`
	Instance int    `json:"instance"`
	Node     string `json:"node"`
	Status   Status `json:"status"`
	Version  string `json:"version"`
	OSPid    int    `json:"os_pid"`
	Port     int    `json:"port"`
	OTP      string `json:"otp"` // connected or disconnected; empty with distribution off
	// BEAMMemory is the node's erlang:memory(total) in bytes as last read
	// (every few seconds), 0 when unknown or not connected.
	BEAMMemory     int64     `json:"beam_memory_bytes"`
	CrashRestarts  int       `json:"crash_restarts"`
	ForcedRestarts int       `json:"forced_restarts"`
	StartedAt      time.Time `json:"-"`          // zero when not running
	NextRestart    time.Time `json:"-"`          // set while in backoff
	LastError      string    `json:"last_error"` // why the last start or run failed
	Stable         bool      `json:"stable"`     // alive for the ready period (and connected, with distribution on)
}

// Uptime is how long the current OS process has been running.
func (i Instance) Uptime(now time.Time) time.Duration {
	if i.StartedAt.IsZero() || i.OSPid == 0 {
		return 0
	}
	return now.Sub(i.StartedAt)
}
