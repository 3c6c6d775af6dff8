// Package filecopy copies one regular file, for the release folders the
// deployer snapshots and the tarballs handed to release_handler.
package filecopy

import (
	"io"
	"io/fs"
	"os"
)

// File copies src to dst, created (or truncated) with mode. Between two
// files on one file system io.Copy uses copy_file_range.
func File(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
