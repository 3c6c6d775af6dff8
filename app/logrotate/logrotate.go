// Package logrotate keeps the replicas' log files from filling the disk.
//
// A replica writes its stdout and stderr straight into files it holds open
// with O_APPEND, so they outlive deployex. Renaming such a file would leave
// the replica writing into the renamed one; instead a full file is copied to
// NAME.1 (older copies shift to NAME.2 …) and truncated in place, and the
// replica's next write lands at the start of the emptied file. Lines written
// between the end of the copy and the truncation, a window of microseconds,
// are lost: logrotate's copytruncate has the same window.
package logrotate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"time"

	"deployex/app/config"
)

// Interval is how often the files are checked: a storm of 20 000 lines/s
// writes about 60 MB in it.
const Interval = 30 * time.Second

// Run checks every replica's log files each interval until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, interval time.Duration) {
	if cfg.LogMaxBytes <= 0 {
		return
	}
	log = log.With("component", "logrotate")
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, spec := range cfg.Apps {
			for n := 1; n <= spec.Replicas; n++ {
				for _, stream := range []string{"stdout", "stderr"} {
					path := cfg.LogFile(spec.Name, n, stream)
					rotated, err := Rotate(path, cfg.LogMaxBytes, cfg.LogKeep)
					switch {
					case err != nil:
						log.Warn("cannot rotate a log file", "path", path, "err", err)
					case rotated:
						log.Info("log file rotated", "path", path, "keep", cfg.LogKeep)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Rotate copies path to path.1 and empties it once it has reached max
// bytes, keeping keep copies (path.1 newest). A missing file is not an error.
func Rotate(path string, max int64, keep int) (bool, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if info.Size() < max {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tmp := path + ".rotating"
	if keep > 0 {
		if err := copyToEnd(f, tmp); err != nil {
			os.Remove(tmp)
			return false, err
		}
	}
	// Right after the copy: every line the replica wrote meanwhile was
	// copied too, up to the moment the copy saw the end.
	if err := f.Truncate(0); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if keep == 0 {
		return true, nil
	}
	for i := keep - 1; i >= 1; i-- {
		err := os.Rename(numbered(path, i), numbered(path, i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return true, err
		}
	}
	if err := os.Rename(tmp, numbered(path, 1)); err != nil {
		return true, fmt.Errorf("keep the rotated copy: %w", err)
	}
	return true, nil
}

func numbered(path string, i int) string { return path + "." + strconv.Itoa(i) }

// copyToEnd copies f from its start to its end at the time of reading into
// a new file at dst, with the log files' mode.
func copyToEnd(f *os.File, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// From f's own offset, still 0: copy_file_range in the kernel.
	if _, err := io.Copy(out, f); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
