package deployer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"deployex/app/internal/durable"
	"deployex/app/internal/filecopy"
	"deployex/app/supervisor"
)

// versionFile is written into every release folder deployex unpacks, so a
// rollback knows what previous/ holds without asking the release (Gleam
// shipments carry no version of their own).
const versionFile = ".deployex-version"

// folders are the new/current/previous folders of one replica, and
// pre-upgrade/, current/ as it was before a hot upgrade in progress.
type folders struct{ root string }

func (f folders) new() string        { return filepath.Join(f.root, "new") }
func (f folders) current() string    { return filepath.Join(f.root, "current") }
func (f folders) previous() string   { return filepath.Join(f.root, "previous") }
func (f folders) preUpgrade() string { return filepath.Join(f.root, "pre-upgrade") }

// clearNew removes what an interrupted deployment left in new/ and pre-upgrade/.
func (f folders) clearNew() error {
	if err := os.MkdirAll(f.root, 0o750); err != nil {
		return err
	}
	if err := os.RemoveAll(f.preUpgrade()); err != nil {
		return err
	}
	return os.RemoveAll(f.new())
}

// markNew records the version of the release just unpacked into new/.
func (f folders) markNew(version string) error {
	return os.WriteFile(filepath.Join(f.new(), versionFile), []byte(version+"\n"), 0o640)
}

// promote is the seed's step: delete previous/, move current/ to previous/
// and new/ to current/. A replica deployed for the first time has no current/.
func (f folders) promote() error {
	if err := os.RemoveAll(f.previous()); err != nil {
		return err
	}
	if err := os.Rename(f.current(), f.previous()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(f.new(), f.current()); err != nil {
		return err
	}
	return f.sync()
}

// hold marks new/ so that the supervisor will not start it, once it is
// current/, before unhold: its pre_commands have not run yet.
func (f folders) hold() error {
	return os.WriteFile(filepath.Join(f.new(), supervisor.HoldFile), nil, 0o600)
}

// unhold lets the supervisor start current/.
func (f folders) unhold() error {
	if err := os.Remove(filepath.Join(f.current(), supervisor.HoldFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// held reports whether current/ is a release whose deployment stopped
// between the swap and its pre_commands' end.
func (f folders) held() bool {
	_, err := os.Stat(filepath.Join(f.current(), supervisor.HoldFile))
	return err == nil
}

// sync makes a swap durable before the replica starts from it: the files
// unpacked or copied into the folders and the renames between them.
func (f folders) sync() error {
	return durable.SyncFS(f.root)
}

// demote puts previous/ back in place of current/ and returns its version.
// The failed release is dropped: its tarball can be downloaded again.
func (f folders) demote() (string, error) {
	version, err := folderVersion(f.previous())
	if err != nil {
		return "", fmt.Errorf("nothing to roll back to: %w", err)
	}
	if err := os.RemoveAll(f.current()); err != nil {
		return "", err
	}
	if err := os.Rename(f.previous(), f.current()); err != nil {
		return "", err
	}
	return version, f.sync()
}

// A hot upgrade changes current/ in place: release_handler adds the new
// release next to the old one and makes it the one to boot. previous/ must
// still hold what ran before, for a rollback, so current/ is copied to
// pre-upgrade/ first (snapshot); a successful upgrade makes that copy
// previous/ (settleHot), and one that fails half way puts it back as
// current/ for a full deployment (restore).

// snapshot copies current/ to pre-upgrade/. The code under lib/ and erts-*/
// (nearly all of a release's bytes) is hard-linked, not copied:
// release_handler and the release scripts only add and delete files there,
// never rewrite one. Everything else (bin/, releases/ with RELEASES and
// start_erl.data, which release_handler rewrites in place) is copied.
func (f folders) snapshot() error {
	if err := os.RemoveAll(f.preUpgrade()); err != nil {
		return err
	}
	return copyTree(f.current(), f.preUpgrade(), func(rel string) bool {
		top, _, _ := strings.Cut(rel, string(filepath.Separator))
		return top == "lib" || strings.HasPrefix(top, "erts-")
	})
}

// settleHot records a finished hot upgrade to version: current/ is marked
// with it, the snapshot becomes previous/, and new/ goes.
func (f folders) settleHot(version string) error {
	if err := os.WriteFile(filepath.Join(f.current(), versionFile), []byte(version+"\n"), 0o640); err != nil {
		return err
	}
	if err := os.RemoveAll(f.previous()); err != nil {
		return err
	}
	if err := os.Rename(f.preUpgrade(), f.previous()); err != nil {
		return err
	}
	if err := os.RemoveAll(f.new()); err != nil {
		return err
	}
	return f.sync()
}

// restore replaces current/ with the snapshot taken before a hot upgrade; the
// replica must be stopped.
func (f folders) restore() error {
	if err := os.RemoveAll(f.current()); err != nil {
		return err
	}
	if err := os.Rename(f.preUpgrade(), f.current()); err != nil {
		return err
	}
	return f.sync()
}

// copyTree copies the directory src to dst (which must not exist) with the
// modes and symbolic links of a release (its scripts must stay executable);
// regular files whose path relative to src satisfies link are hard-linked.
func copyTree(src, dst string, link func(rel string) bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular() && link(rel):
			return os.Link(path, target)
		case d.Type().IsRegular():
			return filecopy.File(path, target, info.Mode().Perm())
		}
		return nil // sockets, pipes: nothing a release ships
	})
}

// folderVersion reads the version marker of a release folder.
func folderVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, versionFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
