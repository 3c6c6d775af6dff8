package web

import (
	"errors"
	"io/fs"

	"github.com/gofiber/fiber/v2"

	"deployex/app/logtail"
	"deployex/views"
)

// logPage shows the last lines of one replica's stdout or stderr; logs.js
// then follows the live stream, which starts again from the same last lines.
func (s *Server) logPage(c *fiber.Ctx) error {
	ref, err := s.logParam(c)
	if err != nil {
		return err
	}
	src := s.replicaLog(ref.spec.Name, ref.n, ref.stream)
	v := views.LogView{Title: src.label, Live: ref.url("/live"), Download: ref.url("/download"), Links: ref.links()}
	batch, err := lastBatch(src, logBacklog, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.Download = ""
		v.Note = "There is no log file yet: lines show up here once the replica writes some."
	case err != nil:
		return err
	default:
		v.Backlog = []views.LogBatch{batch}
	}
	return render(c, fiber.StatusOK, views.LogPage(s.page(c, src.label, ""), v))
}

// lastBatch reads the last n lines of src's file, labelled when the page
// follows several files.
func lastBatch(src logSource, n int, labelled bool) (views.LogBatch, error) {
	texts, err := logtail.Last(src.Path, n)
	if err != nil {
		return views.LogBatch{}, err
	}
	b := views.LogBatch{Lines: make([]logtail.Line, len(texts))}
	for i, t := range texts {
		b.Lines[i].Text = t
	}
	if labelled {
		b.Label = src.label
	}
	return b, nil
}
