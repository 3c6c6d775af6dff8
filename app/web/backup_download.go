package web

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofiber/fiber/v2"
)

// backupDownload streams a consistent copy of the live database.
func (s *Server) backupDownload(c *fiber.Ctx) error {
	dir, err := os.MkdirTemp(s.Config.DataDir, "backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "deployex.db")
	if err := s.Store.Backup(c.UserContext(), path); err != nil {
		s.audit(c, actor(c), "backup", "", "failed", err.Error())
		return err
	}
	s.audit(c, actor(c), "backup", "", "ok", "")
	name := fmt.Sprintf("deployex-%s.db", time.Now().UTC().Format("20060102-150405"))
	c.Set(fiber.HeaderCacheControl, "no-store")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	// The open descriptor keeps the unlinked copy readable; fasthttp closes it after sending.
	c.Attachment(name)
	c.Type("application/vnd.sqlite3")
	return c.SendStream(f, int(st.Size()))
}
