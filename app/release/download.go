package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func (s *bucketSource) Download(ctx context.Context, appName, version, path string) (Artifact, error) {
	key, err := distKey(appName, version)
	if err != nil {
		return Artifact{}, err
	}
	ctx, cancel := bounded(ctx, s.t.download)
	defer cancel()
	ctx, stall := withStallGuard(ctx, s.t.stall)
	defer stall.stop()

	body, info, err := s.st.open(ctx, key)
	if err != nil {
		return Artifact{}, s.fail(ctx, "download", key, err)
	}
	defer body.Close()
	if info.Size > s.maxDownload {
		return Artifact{}, s.fail(ctx, "download", key, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, info.Size, s.maxDownload))
	}
	size, sum, err := saveFile(stall.reader(body), path, s.maxDownload, info.Size)
	if err != nil {
		return Artifact{}, s.fail(ctx, "download", key, err)
	}
	return Artifact{Path: path, Size: size, SHA256: sum, Tag: info.Tag}, nil
}

var errStalled = errors.New("download stalled")

// stallGuard cancels a download that stops receiving bytes, so a hung
// connection fails after the stall time rather than at the download deadline.
type stallGuard struct {
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func withStallGuard(ctx context.Context, d time.Duration) (context.Context, *stallGuard) {
	ctx, cancel := context.WithCancelCause(ctx)
	g := &stallGuard{d: d, cancel: cancel}
	g.timer = time.AfterFunc(d, func() {
		cancel(fmt.Errorf("%w: no data for %v", errStalled, d))
	})
	return ctx, g
}

func (g *stallGuard) stop() {
	g.timer.Stop()
	g.cancel(nil)
}

func (g *stallGuard) reader(r io.Reader) io.Reader { return stallReader{r: r, g: g} }

type stallReader struct {
	r io.Reader
	g *stallGuard
}

func (s stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.g.timer.Reset(s.g.d)
	}
	return n, err
}

// saveFile streams r into path through a temporary sibling, so path holds
// either a complete download or what it held before, never a torn file.
// want is the size the store announced, or -1.
func saveFile(r io.Reader, path string, limit, want int64) (size int64, sum string, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return 0, "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		return 0, "", err
	case size > limit:
		return 0, "", fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	case want >= 0 && size != want:
		return 0, "", fmt.Errorf("%w: got %d of %d bytes", io.ErrUnexpectedEOF, size, want)
	}
	if err = f.Chmod(0o644); err != nil {
		return 0, "", err
	}
	if err = f.Sync(); err != nil {
		return 0, "", err
	}
	if err = f.Close(); err != nil {
		return 0, "", err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return 0, "", err
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}
