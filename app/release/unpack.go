package release

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"deployex/app/config"
)

// Limits bound what one tarball may put on disk.
type Limits struct {
	MaxEntries   int   // files, directories (also implied ones) and links
	MaxBytes     int64 // total size of regular files
	MaxFileBytes int64 // size of one regular file
}

// maxFileBytes caps a single file below the total: the biggest file in a
// BEAM release is the emulator, tens of MB, so a multi-GB member is a bomb.
const maxFileBytes = 1 << 30

// LimitsFrom takes the limits from the configuration.
func LimitsFrom(cfg *config.Config) Limits {
	return Limits{
		MaxEntries:   cfg.UnpackMaxFiles,
		MaxBytes:     cfg.UnpackMaxBytes,
		MaxFileBytes: min(cfg.UnpackMaxBytes, maxFileBytes),
	}
}

// ErrRefused matches every UnpackError. A refused tarball is bad in itself:
// unpacking the same object again cannot succeed, unlike an I/O error.
var ErrRefused = errors.New("tarball refused")

// UnpackError says which entry was refused and why.
type UnpackError struct {
	Entry  string // as stored in the archive; "" for the archive as a whole
	Reason string
}

func (e *UnpackError) Error() string {
	if e.Entry == "" {
		return "unpack: " + e.Reason
	}
	return fmt.Sprintf("unpack: entry %s: %s", shown(e.Entry), e.Reason)
}

func (e *UnpackError) Is(target error) bool { return target == ErrRefused }

func refuse(entry, format string, args ...any) error {
	return &UnpackError{Entry: entry, Reason: fmt.Sprintf(format, args...)}
}

// Unpack extracts the gzipped tarball into dest, which must not exist yet.
// When wantSHA256 is set the tarball is checked before anything is written.
// Extraction happens in a temporary sibling (removed on failure, renamed to
// dest at the end), so dest is either complete or absent and no entry can
// reach anything outside that folder.
func Unpack(ctx context.Context, tarball, dest, wantSHA256 string, lim Limits) (err error) {
	f, err := os.Open(tarball)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer f.Close()
	if wantSHA256 != "" {
		if err := checkSHA256(f, wantSHA256); err != nil {
			return err
		}
	}
	switch _, err := os.Lstat(dest); {
	case err == nil:
		return fmt.Errorf("unpack: destination %s already exists", dest)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("unpack: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".unpack-*")
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()

	x := &extractor{
		root:  root,
		lim:   lim,
		dirs:  map[string]fs.FileMode{},
		files: map[string]bool{},
		links: map[string]bool{},
	}
	if err := x.extract(ctx, f); err != nil {
		return err
	}
	if err := x.finish(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	return nil
}

func checkSHA256(f *os.File, want string) error {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return refuse("", "sha256 of the tarball is %s, current.json expects %s", got, want)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	return nil
}

// extractor writes entries through an os.Root, which already refuses to
// leave the folder; the checks here come first so that a hostile archive is
// refused with a reason and never half-applied through a link.
type extractor struct {
	root    *os.Root
	lim     Limits
	entries int
	bytes   int64
	// dirs holds every directory created, with the mode it gets at the end
	// (applied last so a read-only directory can still be filled). A parent
	// that is not in dirs is not a real directory of ours.
	dirs  map[string]fs.FileMode
	files map[string]bool // regular files: the only valid hard link targets
	links map[string]bool // symlinks, resolved once all entries exist
}

// trailerSlack is how much may follow the end-of-archive marker: tar pads
// to 10 KiB records, and some writers add a little more.
const trailerSlack = 1 << 20

func (x *extractor) extract(ctx context.Context, r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return refuse("", "not a gzip stream: %v", err)
	}
	tr := tar.NewReader(zr)
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return refuse(last, "corrupt archive after this entry: %v", err)
		}
		last = hdr.Name
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Reading to the end of the gzip stream verifies its CRC, the only
	// integrity check there is when current.json pins no sha256.
	n, err := io.Copy(io.Discard, io.LimitReader(zr, trailerSlack+1))
	switch {
	case err != nil:
		return refuse("", "corrupt archive: %v", err)
	case n > trailerSlack:
		return refuse("", "more than %d bytes after the end of the archive", trailerSlack)
	}
	return nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // archive-wide metadata, e.g. git archive's commit id
	}
	name, err := entryName(hdr.Name)
	if err != nil {
		return refuse(hdr.Name, "%v", err)
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return refuse(hdr.Name, "only a directory may name the destination itself")
		}
		return nil
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdir(hdr.Name, name, dirMode(hdr.Mode))
	case tar.TypeReg:
		return x.writeFile(hdr, name, r)
	case tar.TypeSymlink:
		return x.symlink(hdr, name)
	case tar.TypeLink:
		return x.hardlink(hdr, name)
	case tar.TypeChar, tar.TypeBlock:
		return refuse(hdr.Name, "device files are not allowed")
	case tar.TypeFifo:
		return refuse(hdr.Name, "fifos are not allowed")
	default:
		return refuse(hdr.Name, "unsupported entry type %q", hdr.Typeflag)
	}
}

// entryName turns a stored name into a clean path relative to the
// destination ("." for the destination itself). "./" prefixes are common
// (tar -C dir .); absolute paths and ".." components are refused outright,
// even when cleaning would bring them back inside.
func entryName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", errors.New("empty name")
	case strings.ContainsRune(raw, 0):
		return "", errors.New("NUL in name")
	case strings.HasPrefix(raw, "/"):
		return "", errors.New("absolute path")
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", errors.New(`".." component`)
		}
	}
	name := path.Clean(raw)
	if name != "." && !filepath.IsLocal(name) {
		return "", errors.New("path leaves the destination")
	}
	return name, nil
}

// count charges one created filesystem object against MaxEntries.
func (x *extractor) count(entry string) error {
	x.entries++
	if x.entries > x.lim.MaxEntries {
		return refuse(entry, "more than %d files, directories and links", x.lim.MaxEntries)
	}
	return nil
}

// parents creates the missing directories above name, refusing to go
// through anything that is not a directory this archive created: that is
// what stops "link -> elsewhere" followed by "link/file".
func (x *extractor) parents(entry, name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	if _, ok := x.dirs[dir]; ok {
		return nil
	}
	if err := x.parents(entry, dir); err != nil {
		return err
	}
	if x.links[dir] {
		return refuse(entry, "parent %s is a symlink; entries may not be written through links", shown(dir))
	}
	return x.mkdir(entry, dir, 0o755)
}

func (x *extractor) mkdir(entry, name string, mode fs.FileMode) error {
	if _, ok := x.dirs[name]; ok {
		x.dirs[name] = mode // a repeated directory entry: the last mode wins, as with tar
		return nil
	}
	if err := x.parents(entry, name); err != nil {
		return err
	}
	if err := x.count(entry); err != nil {
		return err
	}
	if err := x.root.Mkdir(name, 0o700); err != nil {
		return x.fsErr(entry, name, err)
	}
	x.dirs[name] = mode
	return nil
}

func (x *extractor) writeFile(hdr *tar.Header, name string, r io.Reader) error {
	switch {
	case hdr.Size > x.lim.MaxFileBytes:
		return refuse(hdr.Name, "%d bytes, more than the %d allowed for one file", hdr.Size, x.lim.MaxFileBytes)
	case x.bytes+hdr.Size > x.lim.MaxBytes:
		return refuse(hdr.Name, "the archive unpacks to more than %d bytes", x.lim.MaxBytes)
	}
	if err := x.parents(hdr.Name, name); err != nil {
		return err
	}
	if err := x.count(hdr.Name); err != nil {
		return err
	}
	// O_EXCL: a duplicate name must not silently replace an earlier entry,
	// nor write through a symlink planted under that name.
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return x.fsErr(hdr.Name, name, err)
	}
	n, err := io.Copy(f, archiveReader{r})
	if err == nil {
		err = f.Chmod(fileMode(hdr.Mode))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var bad badArchive
	switch {
	case errors.As(err, &bad):
		return refuse(hdr.Name, "corrupt archive: %v", bad.err)
	case err != nil:
		return fmt.Errorf("unpack %s: %w", name, err)
	case n != hdr.Size:
		return refuse(hdr.Name, "archive ends inside this file")
	}
	x.bytes += n
	x.files[name] = true
	return nil
}

func (x *extractor) symlink(hdr *tar.Header, name string) error {
	target := hdr.Linkname
	switch {
	case target == "":
		return refuse(hdr.Name, "symlink with an empty target")
	case path.IsAbs(target):
		return refuse(hdr.Name, "symlink to absolute path %s", shown(target))
	case !filepath.IsLocal(path.Join(path.Dir(name), target)):
		return refuse(hdr.Name, "symlink to %s leaves the destination", shown(target))
	}
	if err := x.parents(hdr.Name, name); err != nil {
		return err
	}
	if err := x.count(hdr.Name); err != nil {
		return err
	}
	if err := x.root.Symlink(target, name); err != nil {
		return x.fsErr(hdr.Name, name, err)
	}
	x.links[name] = true
	return nil
}

func (x *extractor) hardlink(hdr *tar.Header, name string) error {
	target, err := entryName(hdr.Linkname)
	if err != nil {
		return refuse(hdr.Name, "hard link target %s: %v", shown(hdr.Linkname), err)
	}
	if !x.files[target] {
		return refuse(hdr.Name, "hard link to %s, which is not a regular file earlier in the archive", shown(hdr.Linkname))
	}
	if err := x.parents(hdr.Name, name); err != nil {
		return err
	}
	if err := x.count(hdr.Name); err != nil {
		return err
	}
	if err := x.root.Link(target, name); err != nil {
		return x.fsErr(hdr.Name, name, err)
	}
	x.files[name] = true
	return nil
}

// finish checks every symlink against the finished tree, which catches
// chains a per-link check cannot (a link to "d/.." where d is itself a link
// to a deeper folder), and then applies the directory modes.
func (x *extractor) finish() error {
	for name := range x.links {
		if _, err := x.root.Stat(name); err != nil {
			return refuse(name, "symlink does not resolve inside the destination: %v", unwrapPath(err))
		}
	}
	for name, mode := range x.dirs {
		if err := x.root.Chmod(name, mode); err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
	}
	return nil
}

// fsErr tells a clash inside the archive (refused) from a failing disk.
func (x *extractor) fsErr(entry, name string, err error) error {
	if errors.Is(err, fs.ErrExist) {
		if path.Clean(entry) != name {
			return refuse(entry, "its parent %s clashes with an earlier entry", shown(name))
		}
		return refuse(entry, "clashes with an earlier entry")
	}
	return fmt.Errorf("unpack %s: %w", name, err)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileMode keeps the permission bits a release needs (exec bits above all)
// and drops setuid, setgid, sticky and group/other write.
func fileMode(m int64) fs.FileMode { return fs.FileMode(m)&0o755 | 0o400 }

func dirMode(m int64) fs.FileMode { return fs.FileMode(m)&0o755 | 0o700 }

// archiveReader marks errors of the archive stream (truncation, bad gzip
// data), so a copy failing on the reading side is reported as a bad archive
// and not as a bad disk.
type archiveReader struct{ r io.Reader }

type badArchive struct{ err error }

func (b badArchive) Error() string { return b.err.Error() }
func (b badArchive) Unwrap() error { return b.err }

func (a archiveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err != nil && err != io.EOF {
		err = badArchive{err}
	}
	return n, err
}
