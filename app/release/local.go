package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"syscall"
)

// localStore is a bucket in a folder, for local mode and tests.
type localStore struct{ root string }

func (l localStore) path(key string) string { return filepath.Join(l.root, filepath.FromSlash(key)) }

func (l localStore) url(key string) string { return "file://" + l.path(key) }

// readSmall tags current.json with its content digest rather than size and
// mtime: CI rewriting it with a same-length version inside one timestamp
// tick would otherwise go unseen, and reading a 64 KiB local file costs
// nothing.
func (l localStore) readSmall(ctx context.Context, key, ifTag string, limit int64) ([]byte, string, error) {
	f, err := l.openFile(key)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	body, err := readLimited(f, limit)
	if err != nil {
		return nil, "", err
	}
	tag := "sha256:" + Digest(body)
	if tag == ifTag {
		return nil, "", ErrNotModified
	}
	return body, tag, nil
}

func (l localStore) open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	f, err := l.openFile(key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, err
	}
	return ctxReadCloser{ctx: ctx, File: f}, localInfo(key, fi), nil
}

func (l localStore) stat(ctx context.Context, key string) (ObjectInfo, error) {
	fi, err := os.Stat(l.path(key))
	if err != nil {
		return ObjectInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("%s is not a regular file", l.path(key))
	}
	return localInfo(key, fi), nil
}

func (l localStore) list(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		entries, err := os.ReadDir(l.path(prefix))
		if errors.Is(err, fs.ErrNotExist) {
			return // an app with no tarballs yet, like an empty S3 prefix
		}
		if err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since ReadDir
			}
			if !yield(localInfo(prefix+e.Name(), fi), err) || err != nil {
				return
			}
		}
	}
}

func (l localStore) kind(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		return ErrDenied
	}
	return nil
}

// openFile refuses anything but a regular file: a directory has no content,
// and a fifo would block a poll forever (hence O_NONBLOCK, which regular
// files ignore).
func (l localStore) openFile(key string) (*os.File, error) {
	f, err := os.OpenFile(l.path(key), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s is not a regular file", l.path(key))
		}
		return nil, err
	}
	return f, nil
}

func localInfo(key string, fi fs.FileInfo) ObjectInfo {
	return ObjectInfo{
		Key:      key,
		Tag:      fmt.Sprintf("%d-%d", fi.Size(), fi.ModTime().UnixNano()),
		Size:     fi.Size(),
		Modified: fi.ModTime(),
	}
}

// ctxReadCloser lets a cancelled context stop a local copy the way it stops
// a network read.
type ctxReadCloser struct {
	ctx context.Context
	*os.File
}

func (r ctxReadCloser) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.File.Read(p)
}
