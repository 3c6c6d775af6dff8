package release

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"deployex/app/config"
)

func newGCSSource(t testing.TB, endpoint string, to timeouts) Source {
	src, err := newSource(context.Background(), &config.Config{
		ReleaseAdapter: config.AdapterGCS, ReleaseBucket: "releases", GCSEndpoint: endpoint, Environment: "prod",
	}, sourceOptions{t: to, gcs: []option.ClientOption{option.WithoutAuthentication()}})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// newGCSFixture serves fake-gcs-server over real HTTP and counts the bytes
// of media downloads (alt=media); metadata requests carry no object content.
func newGCSFixture(t testing.TB) fixture {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "releases"})
	served, sent := &counter{}, &counter{}
	ts := httptest.NewServer(countBodies(srv.HTTPHandler(), served, sent, func(r *http.Request) bool {
		return r.URL.Query().Get("alt") == "media"
	}))
	t.Cleanup(func() { ts.Close(); srv.Stop() })
	return fixture{
		name:   "gs://releases",
		src:    newGCSSource(t, ts.URL, testTimeouts),
		served: served,
		sent:   sent,
		put: func(t testing.TB, key string, data []byte) {
			srv.CreateObject(fakestorage.Object{
				ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "releases", Name: key},
				Content:     data,
			})
		},
	}
}

func TestGCSSource(t *testing.T) { testSource(t, newGCSFixture(t)) }

func TestGCSSourceUnreachable(t *testing.T) {
	src := newGCSSource(t, closedPort(t), testTimeouts)
	assertFailsFast(t, 3*time.Second, func() error {
		_, err := src.ReadCurrent(context.Background(), "myapp", "")
		return err
	})
}

func TestGCSSourceSlow(t *testing.T) {
	src := newGCSSource(t, hangingServer(t), testTimeouts)
	assertFailsFast(t, 3*time.Second, func() error {
		_, err := src.ReadCurrent(context.Background(), "myapp", "")
		return err
	})
	assertFailsFast(t, 3*time.Second, func() error {
		_, err := src.Stat(context.Background(), "myapp", "1.0.0")
		return err
	})
}

func TestGCSSourceDenied(t *testing.T) {
	src := newGCSSource(t, deniedServer(t, "application/json", `{"error":{"code":403,"message":"denied"}}`), testTimeouts)
	_, err := src.Stat(context.Background(), "myapp", "1.0.0")
	assertKind(t, err, ErrDenied, "myapp-1.0.0.tar.gz")
}

func TestGCSEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4443":                   "http://127.0.0.1:4443/storage/v1/",
		"http://127.0.0.1:4443/":                  "http://127.0.0.1:4443/storage/v1/",
		"https://storage.example.com/storage/v1/": "https://storage.example.com/storage/v1/",
	} {
		if got, err := jsonAPIEndpoint(in); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := jsonAPIEndpoint("127.0.0.1:4443"); err == nil {
		t.Error("accepted an endpoint without a scheme")
	}
}

// Production wiring: with an endpoint but no test options, the client still
// authenticates with the default credentials (here a service account key
// whose token endpoint is local) and sends a bearer token.
func TestGCSSourceUsesDefaultCredentials(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"test-token","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(tokens.Close)
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		"client_email": "deployex@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokens.URL + "/token",
	})
	credFile := filepath.Join(t.TempDir(), "sa.json")
	os.WriteFile(credFile, sa, 0o600)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", credFile)

	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "releases", Name: "versions/myapp/prod/current.json"}, Content: []byte(`{}`)})
	var auth atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		srv.HTTPHandler().ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	src, err := NewSource(context.Background(), &config.Config{ReleaseAdapter: config.AdapterGCS, ReleaseBucket: "releases", GCSEndpoint: ts.URL, Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ReadCurrent(context.Background(), "myapp", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := auth.Load().(string); got != "Bearer test-token" {
		t.Fatalf("Authorization %q, want the token from the credentials' token endpoint", got)
	}
}
