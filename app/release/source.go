package release

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/api/option"

	"deployex/app"
	"deployex/app/config"
)

// Source is a bucket of releases laid out as DESIGN.md §3 says:
// versions/{app}/{env}/current.json and dist/{app}/{app}-{version}.tar.gz.
// Every call is bounded in time; failures are *SourceError values that match
// ErrNotFound, ErrDenied, ErrUnreachable or ErrTooLarge with errors.Is.
// A Source is safe for concurrent use.
type Source interface {
	// ReadCurrent reads current.json of appName. Given the Tag of an earlier
	// read, it returns ErrNotModified, having downloaded no body, when the
	// object has not changed since.
	ReadCurrent(ctx context.Context, appName, ifChanged string) (CurrentFile, error)
	// Download streams the tarball of version to path (replacing it only
	// once the whole object has arrived) and returns its digest and identity.
	Download(ctx context.Context, appName, version, path string) (Artifact, error)
	// Stat returns the identity of the tarball of version without its body,
	// so a caller can tell whether a refused tarball has been replaced.
	Stat(ctx context.Context, appName, version string) (ObjectInfo, error)
	// Versions lists the tarballs present for appName, newest upload first.
	Versions(ctx context.Context, appName string) ([]Published, error)
	// String names the bucket for logs and the dashboard, e.g. "s3://releases".
	String() string
}

// CurrentFile is the raw current.json as read; ParseCurrent validates Body.
type CurrentFile struct {
	Body []byte
	// Tag identifies this content at the store; pass it back to ReadCurrent.
	Tag string
}

// ObjectInfo identifies one stored object. Tag changes whenever the content
// does: the ETag on S3, the generation on GCS, size and mtime on disk.
type ObjectInfo struct {
	Key      string
	Tag      string
	Size     int64
	Modified time.Time
}

// Artifact is a downloaded tarball.
type Artifact struct {
	Path   string
	Size   int64
	SHA256 string // lowercase hex
	Tag    string // as in ObjectInfo
}

// Published is one version found in the bucket.
type Published struct {
	Version string
	ObjectInfo
}

// Failure kinds. A SourceError matches at most one of them.
var (
	// ErrNotModified is returned by ReadCurrent for an unchanged file; it is
	// not a failure.
	ErrNotModified = errors.New("not modified")
	ErrNotFound    = errors.New("not found")
	ErrDenied      = errors.New("access denied")
	ErrUnreachable = errors.New("store unreachable")
	ErrTooLarge    = errors.New("too large")
)

// SourceError names the operation and the object that failed.
type SourceError struct {
	Op   string // read, download, stat or list
	URL  string // e.g. s3://bucket/versions/app/prod/current.json
	Kind error  // one of the failure kinds, or nil when none fits
	Err  error
}

func (e *SourceError) Error() string {
	if e.Kind != nil {
		return fmt.Sprintf("release: %s %s: %v: %v", e.Op, e.URL, e.Kind, e.Err)
	}
	return fmt.Sprintf("release: %s %s: %v", e.Op, e.URL, e.Err)
}

func (e *SourceError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// store is what each adapter provides: keys in, bytes out. Layout,
// validation, limits, hashing and error wrapping live in bucketSource.
type store interface {
	// readSmall returns at most limit+1 bytes of key and its tag, or
	// ErrNotModified without reading the body when the tag equals ifTag.
	readSmall(ctx context.Context, key, ifTag string, limit int64) ([]byte, string, error)
	open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	stat(ctx context.Context, key string) (ObjectInfo, error)
	// list yields the objects directly under prefix (no sub-folders).
	list(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	// kind maps an adapter error to a failure kind, or nil.
	kind(err error) error
	url(key string) string
}

// maxListed bounds the version picker; a bucket with more tarballs per app
// needs cleaning, not a longer list.
const maxListed = 10000

type bucketSource struct {
	st          store
	env         string
	t           timeouts
	maxDownload int64
}

// sourceOptions are what tests change: shorter timeouts and, for the GCS
// fake, client options such as option.WithoutAuthentication.
type sourceOptions struct {
	t   timeouts
	gcs []option.ClientOption
}

// NewSource builds the source cfg.ReleaseAdapter names. As Google's own
// clients do, STORAGE_EMULATOR_HOST points GCS at an emulator and turns
// authentication off.
func NewSource(ctx context.Context, cfg *config.Config) (Source, error) {
	o := sourceOptions{t: defaultTimeouts}
	if host := os.Getenv("STORAGE_EMULATOR_HOST"); host != "" && cfg.ReleaseAdapter == config.AdapterGCS {
		c := *cfg
		if c.GCSEndpoint == "" {
			c.GCSEndpoint = "http://" + strings.TrimPrefix(host, "http://")
		}
		cfg = &c
		o.gcs = []option.ClientOption{option.WithoutAuthentication()}
	}
	return newSource(ctx, cfg, o)
}

func newSource(ctx context.Context, cfg *config.Config, o sourceOptions) (Source, error) {
	if err := validEnv(cfg.Environment); err != nil {
		return nil, err
	}
	if cfg.ReleaseBucket == "" {
		return nil, errors.New("release: no bucket configured")
	}
	var (
		st  store
		err error
	)
	switch cfg.ReleaseAdapter {
	case config.AdapterLocal:
		st = localStore{root: cfg.ReleaseBucket}
	case config.AdapterS3:
		st, err = newS3Store(ctx, cfg, o.t)
	case config.AdapterGCS:
		st, err = newGCSStore(ctx, cfg, o.t, o.gcs)
	default:
		err = fmt.Errorf("unknown release adapter %q", cfg.ReleaseAdapter)
	}
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return &bucketSource{st: st, env: cfg.Environment, t: o.t, maxDownload: downloadCap(cfg.UnpackMaxBytes)}, nil
}

// downloadCap derives the tarball size limit from the unpacked size limit: a
// gzip stream outgrows its content only by tar headers and the few bytes
// deflate adds to incompressible data, so 1/16 plus 1 MiB of slack is plenty.
func downloadCap(maxUnpacked int64) int64 { return maxUnpacked + maxUnpacked/16 + 1<<20 }

func (s *bucketSource) String() string { return strings.TrimSuffix(s.st.url(""), "/") }

func (s *bucketSource) ReadCurrent(ctx context.Context, appName, ifChanged string) (CurrentFile, error) {
	if err := app.ValidName(appName); err != nil {
		return CurrentFile{}, err
	}
	key := "versions/" + appName + "/" + s.env + "/current.json"
	ctx, cancel := bounded(ctx, s.t.op)
	defer cancel()
	// ParseCurrent refuses the extra byte past the limit, so an oversized
	// file is reported like any other malformed one.
	body, tag, err := s.st.readSmall(ctx, key, ifChanged, MaxCurrentBytes)
	// The second test covers S3-compatible stores that ignore If-None-Match:
	// the body came anyway, but the caller still learns nothing changed.
	if errors.Is(err, ErrNotModified) || err == nil && ifChanged != "" && tag == ifChanged {
		return CurrentFile{}, ErrNotModified
	}
	if err != nil {
		return CurrentFile{}, s.fail(ctx, "read", key, err)
	}
	return CurrentFile{Body: body, Tag: tag}, nil
}

func (s *bucketSource) Stat(ctx context.Context, appName, version string) (ObjectInfo, error) {
	key, err := distKey(appName, version)
	if err != nil {
		return ObjectInfo{}, err
	}
	ctx, cancel := bounded(ctx, s.t.op)
	defer cancel()
	info, err := s.st.stat(ctx, key)
	if err != nil {
		return ObjectInfo{}, s.fail(ctx, "stat", key, err)
	}
	return info, nil
}

func (s *bucketSource) Versions(ctx context.Context, appName string) ([]Published, error) {
	if err := app.ValidName(appName); err != nil {
		return nil, err
	}
	prefix := distPrefix(appName)
	ctx, cancel := bounded(ctx, s.t.op)
	defer cancel()
	var out []Published
	for info, err := range s.st.list(ctx, prefix) {
		if err != nil {
			return nil, s.fail(ctx, "list", prefix, err)
		}
		name := strings.TrimPrefix(info.Key, prefix)
		version, ok := strings.CutPrefix(name, appName+"-")
		version, ok2 := strings.CutSuffix(version, ".tar.gz")
		if !ok || !ok2 || ValidVersion(version) != nil {
			continue // not a release of this app: checksums, notes, other tools' files
		}
		if len(out) == maxListed {
			return nil, s.fail(ctx, "list", prefix, fmt.Errorf("%w: more than %d versions", ErrTooLarge, maxListed))
		}
		out = append(out, Published{Version: version, ObjectInfo: info})
	}
	slices.SortFunc(out, func(a, b Published) int {
		return cmp.Or(b.Modified.Compare(a.Modified), strings.Compare(b.Version, a.Version))
	})
	return out, nil
}

// bounded limits ctx to d; the cause lets an error say which limit hit.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, timeoutCause(d))
}

type timeoutCause time.Duration

func (c timeoutCause) Error() string        { return fmt.Sprintf("no answer within %v", time.Duration(c)) }
func (c timeoutCause) Is(target error) bool { return target == context.DeadlineExceeded }

// fail wraps an adapter error with the object it concerns and its kind.
// SDKs report a spent context as a bare "context deadline exceeded" or
// "canceled"; the context's cause says which of our limits it was.
func (s *bucketSource) fail(ctx context.Context, op, key string, err error) error {
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() && !errors.Is(err, cause) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	kind := s.st.kind(err)
	switch {
	case kind != nil:
	case errors.Is(err, ErrTooLarge):
		kind = ErrTooLarge
	default:
		kind = transportKind(err)
	}
	return &SourceError{Op: op, URL: s.st.url(key), Kind: kind, Err: err}
}

func distKey(appName, version string) (string, error) {
	if err := app.ValidName(appName); err != nil {
		return "", err
	}
	if err := ValidVersion(version); err != nil {
		return "", fmt.Errorf("invalid version: %w", err)
	}
	return distPrefix(appName) + appName + "-" + version + ".tar.gz", nil
}

func distPrefix(appName string) string { return "dist/" + appName + "/" }

// validEnv keeps the {env} segment a single path segment; config already
// checks its characters, this guards callers that build a Config by hand.
func validEnv(env string) error {
	if env == "" || env == "." || env == ".." || strings.ContainsAny(env, `/\`) {
		return fmt.Errorf("release: invalid environment %q", env)
	}
	return nil
}
