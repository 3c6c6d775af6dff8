package web

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gofiber/fiber/v2"
)

// logDownload sends the whole file as it is when asked, streamed from disk,
// so a large log costs no memory. Lines appended meanwhile are left for the
// next download.
func (s *Server) logDownload(c *fiber.Ctx) error {
	ref, err := s.logParam(c)
	if err != nil {
		return err
	}
	src := s.replicaLog(ref.spec.Name, ref.n, ref.stream)
	f, err := os.Open(src.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return fiber.NewError(fiber.StatusNotFound, "There is no log file yet for "+src.label+".")
	}
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	c.Attachment(filepath.Base(src.Path))
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8") // after Attachment, which guesses from ".log"
	// Limited to the size announced: the file may grow while it is sent.
	c.Response().SetBodyStream(fileSection{io.LimitReader(f, st.Size()), f}, int(st.Size()))
	return nil
}

// fileSection reads part of a file and closes the file when fasthttp is done.
type fileSection struct {
	io.Reader
	io.Closer
}
