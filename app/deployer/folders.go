package deployer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// versionFile is written into every release folder deployex unpacks, so a
// rollback knows what previous/ holds without asking the release (Gleam
// shipments carry no version of their own).
const versionFile = ".deployex-version"

// folders are the new/current/previous folders of one replica.
type folders struct{ root string }

func (f folders) new() string      { return filepath.Join(f.root, "new") }
func (f folders) current() string  { return filepath.Join(f.root, "current") }
func (f folders) previous() string { return filepath.Join(f.root, "previous") }

// clearNew removes what an interrupted deployment left in new/.
func (f folders) clearNew() error {
	if err := os.MkdirAll(f.root, 0o750); err != nil {
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
	return os.Rename(f.new(), f.current())
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
	return version, nil
}

// folderVersion reads the version marker of a release folder.
func folderVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, versionFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
