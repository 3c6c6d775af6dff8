package otp

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"deployex/app/internal/filecopy"
	"deployex/app/otp/term"
)

// Release names a release to install on a running node by hot upgrade.
type Release struct {
	// Root is the running release's root directory (code:root_dir() on the
	// node); deployex and the node share the host, so it is a local path.
	Root string
	// Name is the release name (relname), Version the version to install.
	Name    string
	Version string
	// Tarball is the new release's <name>-<version>.tar.gz.
	Tarball string
}

// Step is one stage of a hot upgrade, in order.
type Step string

const (
	StepCopy      Step = "copy"
	StepUnpack    Step = "unpack_release"
	StepRelup     Step = "make_relup" // only for a release that ships no relup
	StepCheck     Step = "check_install_release"
	StepInstall   Step = "install_release"
	StepPermanent Step = "make_permanent"
)

// UpgradeError says at which step a hot upgrade failed. Before StepInstall
// the old release runs untouched and the new one has been removed; from
// StepInstall on the node is in an unknown state: deploy it fully instead.
type UpgradeError struct {
	Step Step
	Err  error
}

func (e *UpgradeError) Error() string { return fmt.Sprintf("otp: hot upgrade %s: %v", e.Step, e.Err) }
func (e *UpgradeError) Unwrap() error { return e.Err }

// Installed reports whether the failure happened after the new code was
// (maybe partly) installed, when only a full deployment can recover.
func (e *UpgradeError) Installed() bool { return e.Step == StepInstall || e.Step == StepPermanent }

// UpgradeTimeout bounds a hot upgrade whose context has no deadline.
const UpgradeTimeout = 2 * time.Minute

// HotUpgrade installs r on node through release_handler: copy the tarball
// to releases/<vsn>/<name>.tar.gz, unpack_release("<vsn>/<name>"), generate
// releases/<vsn>/relup with systools when the release has none,
// check_install_release, install_release and make_permanent. progress, if
// not nil, hears the end of every step it ran with its error. A failure
// before install removes what was unpacked.
func (n *Node) HotUpgrade(ctx context.Context, node string, r Release, progress func(Step, error)) error {
	// Name and Version become paths that a failure removes: refuse anything
	// that is not a single, plain path segment.
	for _, s := range []string{r.Name, r.Version} {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) {
			return fmt.Errorf("otp: hot upgrade: invalid release name or version %q", s)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, UpgradeTimeout)
		defer cancel()
	}
	vsn := term.Charlist(r.Version)
	relDir := filepath.Join(r.Root, "releases", r.Version)
	unpacked := false
	steps := []struct {
		step Step
		skip func() bool
		run  func() error
	}{
		{StepCopy, nil, func() error {
			if err := n.ensureRELEASES(ctx, node, r); err != nil {
				return err
			}
			if err := os.MkdirAll(relDir, 0o755); err != nil {
				return err
			}
			return filecopy.File(r.Tarball, filepath.Join(relDir, r.Name+".tar.gz"), 0o644)
		}},
		{StepUnpack, nil, func() error {
			err := n.releaseHandler(ctx, node, "unpack_release", term.Charlist(r.Version+"/"+r.Name))
			unpacked = err == nil
			if err != nil {
				return err
			}
			return restoreRelFile(r)
		}},
		{StepRelup, func() bool { return exists(filepath.Join(relDir, "relup")) }, func() error { return n.makeRelup(ctx, node, r) }},
		{StepCheck, nil, func() error { return n.releaseHandler(ctx, node, "check_install_release", vsn) }},
		{StepInstall, nil, func() error { return n.releaseHandler(ctx, node, "install_release", vsn) }},
		{StepPermanent, nil, func() error { return n.releaseHandler(ctx, node, "make_permanent", vsn) }},
	}
	for _, s := range steps {
		if s.skip != nil && s.skip() {
			continue
		}
		err := s.run()
		if progress != nil {
			progress(s.step, err)
		}
		if err == nil {
			continue
		}
		uerr := &UpgradeError{Step: s.step, Err: err}
		if !uerr.Installed() {
			n.cleanupUpgrade(node, r, unpacked)
		}
		return uerr
	}
	return nil
}

// ensureRELEASES creates releases/RELEASES for the running release when it is
// missing (Mix releases ship none): without it release_handler cannot later
// tell which release to go back to.
func (n *Node) ensureRELEASES(ctx context.Context, node string, r Release) error {
	releases := filepath.Join(r.Root, "releases")
	if exists(filepath.Join(releases, "RELEASES")) {
		return nil
	}
	running, err := runningVersion(r.Root)
	if err != nil {
		return err
	}
	relFile := filepath.Join(releases, running, r.Name+".rel")
	return n.releaseHandler(ctx, node, "create_RELEASES",
		term.Charlist(r.Root), term.Charlist(releases), term.Charlist(relFile), []any{})
}

// makeRelup writes releases/<vsn>/relup on the node, from the running
// release to the unpacked one, with systools (part of sasl, which
// release_handler needs anyway) reading both releases' .rel, .app and
// .appup files under the root's lib/. It writes no downgrade scripts:
// deployex rolls back by a full deployment of previous/, and an appup
// without a downgrade path must not stop the upgrade.
func (n *Node) makeRelup(ctx context.Context, node string, r Release) error {
	running, err := runningVersion(r.Root)
	if err != nil {
		return err
	}
	releases := filepath.Join(r.Root, "releases")
	v, err := n.Call(ctx, node, "systools", "make_relup",
		term.Charlist(filepath.Join(releases, r.Version, r.Name)),
		[]any{term.Charlist(filepath.Join(releases, running, r.Name))},
		[]any{},
		[]any{
			term.Tuple{term.Atom("path"), []any{term.Charlist(filepath.Join(r.Root, "lib", "*", "ebin"))}},
			term.Tuple{term.Atom("outdir"), term.Charlist(filepath.Join(releases, r.Version))},
			term.Atom("silent"),
		})
	if err != nil {
		return err
	}
	// silent: {ok, Relup, Module, Warnings} or {error, Module, Reason}.
	if t, ok := v.(term.Tuple); ok && len(t) > 0 && t[0] == term.Atom("ok") {
		return nil
	}
	return fmt.Errorf("systools:make_relup from %s answered %.300s", running, term.Format(v))
}

// restoreRelFile puts releases/<vsn>/<name>.rel back after unpack_release:
// given "<vsn>/<name>" it reads that file and then deletes it, but systools
// needs it to make the next relup from this release, and create_RELEASES
// to record it.
func restoreRelFile(r Release) error {
	rel := filepath.Join(r.Root, "releases", r.Version, r.Name+".rel")
	if exists(rel) {
		return nil
	}
	f, err := os.Open(r.Tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Tarball, err)
	}
	want := path.Join("releases", r.Version, r.Name+".rel")
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s has no %s", filepath.Base(r.Tarball), want)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.Tarball, err)
		}
		if path.Clean(hdr.Name) == want && hdr.Typeflag == tar.TypeReg {
			// A .rel is a few hundred bytes; the limit keeps a hostile entry out.
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return err
			}
			return os.WriteFile(rel, b, 0o644)
		}
	}
}

// runningVersion is the release version the node booted, from
// releases/start_erl.data ("ERTS_VSN REL_VSN"), which make_permanent rewrites.
func runningVersion(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "releases", "start_erl.data"))
	if err != nil {
		return "", fmt.Errorf("current version: %w", err)
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return "", fmt.Errorf("start_erl.data: unexpected %q", data)
	}
	return fields[1], nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// cleanupUpgrade leaves the node as it was before a failed upgrade: the old
// release keeps running and the new one is forgotten.
func (n *Node) cleanupUpgrade(node string, r Release, unpacked bool) {
	// The upgrade's own context may be what ran out.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if unpacked {
		if err := n.releaseHandler(ctx, node, "remove_release", term.Charlist(r.Version)); err != nil {
			n.log.Warn("remove_release after a failed upgrade", "peer", node, "version", r.Version, "err", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(r.Root, "releases", r.Version)); err != nil {
		n.log.Warn("remove the new release folder", "peer", node, "version", r.Version, "err", err)
	}
}

// releaseHandler calls release_handler:fun(args...) and turns its
// {error, Reason} answers into errors.
func (n *Node) releaseHandler(ctx context.Context, node, fun string, args ...any) error {
	v, err := n.Call(ctx, node, "release_handler", fun, args...)
	if err != nil {
		return err
	}
	switch t := v.(type) {
	case term.Atom:
		if t == "ok" {
			return nil
		}
	case term.Tuple:
		if len(t) > 0 && t[0] == term.Atom("ok") {
			return nil
		}
		if len(t) == 2 && t[0] == term.Atom("error") {
			return errors.New(term.Format(t[1]))
		}
	}
	return fmt.Errorf("release_handler:%s answered %.300s", fun, term.Format(v))
}
