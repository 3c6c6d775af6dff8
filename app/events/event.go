package events

import "time"

// Kind says what an Event is about.
type Kind string

const (
	// InstanceChanged: a replica's status, pid, counters or version changed.
	InstanceChanged Kind = "instance"
	// DeploymentChanged: a deployment started, progressed or finished.
	DeploymentChanged Kind = "deployment"
	// AppChanged: mode, ghosts or the last source error of an app changed.
	AppChanged Kind = "app"
	// NodeChanged: OTP connectivity of a replica changed.
	NodeChanged Kind = "node"
)

// Event tells subscribers that something about an app or replica changed.
// It carries identifiers and a short message, not state: readers ask the
// owner (supervisor, deployer) for the current state, so a dropped event only
// delays a refresh and never leaves a stale value behind.
type Event struct {
	Kind     Kind
	App      string
	Instance int // 0 when the event concerns the whole app
	Message  string
	At       time.Time
}

// Bus is the hub every component publishes its state changes on.
type Bus = Hub[Event]

// NewBus returns an empty event bus.
func NewBus() *Bus { return NewHub[Event]() }
