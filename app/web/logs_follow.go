package web

import (
	"errors"
	"io/fs"
	"net/url"
	"slices"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/views"
)

// logFollow is what /logs follows: every replica of one app, or of all of
// them, and one stream or both.
type logFollow struct {
	app    string // empty: every app
	stream string // empty: stdout and stderr
}

// followParam reads ?app= and ?stream= and lists the files they name.
func (s *Server) followParam(c *fiber.Ctx) (logFollow, []logSource, error) {
	f := logFollow{app: c.Query("app"), stream: c.Query("stream")}
	if f.stream != "" && !slices.Contains(logStreams, f.stream) {
		return f, nil, fiber.NewError(fiber.StatusNotFound, "a replica writes stdout and stderr, not "+f.stream)
	}
	specs := s.Config.Apps
	if f.app != "" {
		spec, ok := s.Config.App(f.app)
		if !ok {
			return f, nil, fiber.NewError(fiber.StatusNotFound, "unknown app "+f.app)
		}
		specs = []app.Spec{spec}
	}
	var out []logSource
	for _, spec := range specs {
		for n := 1; n <= spec.Replicas; n++ {
			for _, stream := range logStreams {
				if f.stream == "" || f.stream == stream {
					out = append(out, s.replicaLog(spec.Name, n, stream))
				}
			}
		}
	}
	if len(out) == 0 {
		return f, nil, fiber.NewError(fiber.StatusNotFound, "No application is configured.")
	}
	return f, out, nil
}

func (f logFollow) url(path string) string {
	q := url.Values{}
	if f.app != "" {
		q.Set("app", f.app)
	}
	if f.stream != "" {
		q.Set("stream", f.stream)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

func (f logFollow) title() string {
	what := "every app"
	if f.app != "" {
		what = f.app
	}
	if f.stream != "" {
		return what + ", " + f.stream + " of every replica"
	}
	return what + ", stdout and stderr of every replica"
}

// followBacklog shares the backlog among the files, each keeping a few
// lines: without timestamps, lines of different files cannot be
// interleaved, so the page starts with each file's last lines in turn.
func followBacklog(files int) int { return max(20, logBacklog/files) }

// logsFollow shows the last lines of several log files, then follows them
// all live with each line labelled by its replica and stream.
func (s *Server) logsFollow(c *fiber.Ctx) error {
	f, sources, err := s.followParam(c)
	if err != nil {
		return err
	}
	v := views.LogView{Title: f.title(), Live: f.url("/logs/live"), Links: s.followLinks(f)}
	for _, src := range sources {
		b, err := lastBatch(src, followBacklog(len(sources)), true)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		v.Backlog = append(v.Backlog, b)
	}
	return render(c, fiber.StatusOK, views.LogPage(s.page(c, "Live logs", "logs"), v))
}

// followLinks offers every app, and each app's streams, to follow.
func (s *Server) followLinks(cur logFollow) []views.LogLink {
	var out []views.LogLink
	add := func(label string, f logFollow) {
		out = append(out, views.LogLink{Label: label, Href: f.url("/logs"), Current: f == cur})
	}
	if len(s.Config.Apps) > 1 {
		add("every app", logFollow{})
	}
	for _, spec := range s.Config.Apps {
		add(spec.Name, logFollow{app: spec.Name})
		for _, stream := range logStreams {
			add(spec.Name+" "+stream, logFollow{app: spec.Name, stream: stream})
		}
	}
	return out
}
