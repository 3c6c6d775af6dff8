package release

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"deployex/app/config"
)

// useStaticAWSCredentials makes the default credential chain find test keys
// in the environment and nothing on the machine.
func useStaticAWSCredentials(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "eu-west-1")
}

func newS3Source(t testing.TB, endpoint string, to timeouts) Source {
	useStaticAWSCredentials(t)
	src, err := newSource(context.Background(), &config.Config{
		ReleaseAdapter: config.AdapterS3, ReleaseBucket: "releases", S3Endpoint: endpoint, Environment: "prod",
	}, sourceOptions{t: to})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// newS3Fixture serves gofakes3 over real HTTP and counts the bytes of every
// GET response body (304s have none).
func newS3Fixture(t testing.TB) fixture {
	backend := s3mem.New()
	if err := backend.CreateBucket("releases"); err != nil {
		t.Fatal(err)
	}
	served, sent := &counter{}, &counter{}
	ts := httptest.NewServer(countBodies(gofakes3.New(backend).Server(), served, sent, func(r *http.Request) bool {
		return r.Method == http.MethodGet && !r.URL.Query().Has("list-type")
	}))
	t.Cleanup(ts.Close)
	return fixture{
		name:   "s3://releases",
		src:    newS3Source(t, ts.URL, testTimeouts),
		served: served,
		sent:   sent,
		put: func(t testing.TB, key string, data []byte) {
			if _, err := backend.PutObject("releases", key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestS3Source(t *testing.T) { testSource(t, newS3Fixture(t)) }

func TestS3SourceUnreachable(t *testing.T) {
	src := newS3Source(t, closedPort(t), testTimeouts)
	assertFailsFast(t, 3*time.Second, func() error {
		_, err := src.ReadCurrent(context.Background(), "myapp", "")
		return err
	})
}

func TestS3SourceSlow(t *testing.T) {
	src := newS3Source(t, hangingServer(t), testTimeouts)
	assertFailsFast(t, 3*time.Second, func() error {
		_, err := src.ReadCurrent(context.Background(), "myapp", "")
		return err
	})
	assertFailsFast(t, 3*time.Second, func() error {
		_, err := src.Versions(context.Background(), "myapp")
		return err
	})
}

// A download whose body stops flowing is abandoned after the stall time,
// long before the download deadline, and leaves no file.
func TestS3SourceStalledDownload(t *testing.T) {
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Header().Set("ETag", `"abc"`)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(strings.Repeat("x", 1000)))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); ts.Close() })
	src := newS3Source(t, ts.URL, testTimeouts)
	dir := t.TempDir()
	assertFailsFast(t, 2*time.Second, func() error {
		_, err := src.Download(context.Background(), "myapp", "1.0.0", filepath.Join(dir, "t.tar.gz"))
		if err != nil && !strings.Contains(err.Error(), "stalled") {
			t.Errorf("error does not say the download stalled: %v", err)
		}
		return err
	})
	assertOnlyFiles(t, dir)
}

func TestS3SourceNeedsARegion(t *testing.T) {
	useStaticAWSCredentials(t)
	os.Unsetenv("AWS_REGION")
	_, err := NewSource(context.Background(), &config.Config{ReleaseAdapter: config.AdapterS3, ReleaseBucket: "b", Environment: "prod"})
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("got %v, want an error naming AWS_REGION", err)
	}
}

func TestS3SourceDenied(t *testing.T) {
	src := newS3Source(t, deniedServer(t, "application/xml", `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`), testTimeouts)
	_, err := src.ReadCurrent(context.Background(), "myapp", "")
	assertKind(t, err, ErrDenied, "current.json")
}

// Some S3-compatible stores ignore If-None-Match and send the body anyway;
// an unchanged ETag must still read as not modified.
func TestS3SourceStoreIgnoringConditionalReads(t *testing.T) {
	backend := s3mem.New()
	backend.CreateBucket("releases")
	data := []byte(`{"version":"1.0.0","hash":"a"}`)
	backend.PutObject("releases", "versions/myapp/prod/current.json", map[string]string{}, bytes.NewReader(data), int64(len(data)), nil)
	fake := gofakes3.New(backend).Server()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("If-None-Match")
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	src := newS3Source(t, ts.URL, testTimeouts)
	first, err := src.ReadCurrent(context.Background(), "myapp", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ReadCurrent(context.Background(), "myapp", first.Tag); !errors.Is(err, ErrNotModified) {
		t.Fatalf("got %v, want ErrNotModified", err)
	}
}
