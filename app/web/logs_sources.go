package web

import (
	"fmt"
	"slices"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/app/logtail"
	"deployex/views"
)

// logStreams are the two files every replica writes.
var logStreams = []string{"stdout", "stderr"}

// logBacklog is how many lines a log page starts with.
const logBacklog = 200

// logSource is one replica's log file and the label its lines carry where
// several files are followed together.
type logSource struct {
	logtail.Source
	label string
}

// replicaLog names the file replica n of appName writes stream to, the way
// the supervisor opens it. App names cannot hold a '-', so keys are unique.
func (s *Server) replicaLog(appName string, n int, stream string) logSource {
	short := app.NodeShortName(appName, n)
	return logSource{
		Source: logtail.Source{
			Key:  short + "-" + stream,
			Path: s.Config.LogFile(appName, n, stream),
		},
		label: short + " " + stream,
	}
}

// logRef is the replica log a /apps/:app/instances/:n/logs/:stream URL names.
type logRef struct {
	spec   app.Spec
	n      int
	stream string
}

func (s *Server) logParam(c *fiber.Ctx) (logRef, error) {
	spec, n, err := s.instanceParam(c)
	if err != nil {
		return logRef{}, err
	}
	stream := c.Params("stream")
	if !slices.Contains(logStreams, stream) {
		return logRef{}, fiber.NewError(fiber.StatusNotFound, "a replica writes stdout and stderr, not "+stream)
	}
	return logRef{spec: spec, n: n, stream: stream}, nil
}

func (r logRef) url(suffix string) string {
	return fmt.Sprintf("/apps/%s/instances/%d/logs/%s%s", r.spec.Name, r.n, r.stream, suffix)
}

// links lead from one replica's log to its other stream, to the same stream
// of the other replicas, and to the page following them all.
func (r logRef) links() []views.LogLink {
	var out []views.LogLink
	for _, stream := range logStreams {
		o := logRef{spec: r.spec, n: r.n, stream: stream}
		out = append(out, views.LogLink{Label: stream, Href: o.url(""), Current: stream == r.stream})
	}
	for n := 1; n <= r.spec.Replicas; n++ {
		if n != r.n {
			o := logRef{spec: r.spec, n: n, stream: r.stream}
			out = append(out, views.LogLink{Label: app.NodeShortName(r.spec.Name, n) + " " + r.stream, Href: o.url("")})
		}
	}
	return append(out, views.LogLink{Label: "all of " + r.spec.Name + ", live", Href: "/logs?app=" + r.spec.Name})
}
