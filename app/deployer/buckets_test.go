package deployer

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"deployex/app"
	"deployex/app/internal/fixture"
)

// The SDKs read credentials and emulator hosts from the process environment,
// which parallel tests cannot change one by one, so it is set once here.
func TestMain(m *testing.M) {
	dir, _ := os.MkdirTemp("", "deployer-test-")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		os.Setenv(k, v)
	}
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		panic(err)
	}
	gcsServer = gcs
	os.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcs.URL(), "http://"))
	code := m.Run()
	gcs.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

var gcsServer *fakestorage.Server

// TestDeployFromS3WhileTheBucketComesAndGoes deploys an Elixir release from
// a fake S3 over real HTTP, then takes the bucket away and brings it back.
func TestDeployFromS3WhileTheBucketComesAndGoes(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	backend.CreateBucket("releases")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	handler := gofakes3.New(backend).Server()
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	h := newHarness(t, app.Elixir, 2, map[string]string{
		"DEPLOYEX_RELEASE_ADAPTER": "s3", "DEPLOYEX_RELEASE_BUCKET": "releases",
		"DEPLOYEX_S3_ENDPOINT": "http://" + addr, "AWS_REGION": "us-east-1",
	})
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := backend.PutObject("releases", key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
			t.Fatal(err)
		}
	}
	tarball, _ := os.ReadFile(fixture.Release(t, app.Elixir, "1.0.0", fixture.Normal))
	put("dist/exfix/exfix-1.0.0.tar.gz", tarball)
	put("versions/exfix/local/current.json", []byte(`{"version":"1.0.0","hash":"abc"}`))
	h.start(nil)
	h.waitFor("1.0.0 from S3", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	pids := []int{h.sup.Instances(h.name)[0].OSPid, h.sup.Instances(h.name)[1].OSPid}

	srv.Close() // the bucket goes away
	h.waitFor("the source error on the dashboard", 20*time.Second, func() bool {
		return h.dep.Status(h.name).SourceError != ""
	})
	for i, in := range h.sup.Instances(h.name) {
		if in.OSPid != pids[i] || in.Status != app.StatusRunning {
			t.Fatalf("an unreachable bucket must leave replicas running: %+v", in)
		}
	}
	ln2, err := net.Listen("tcp", addr) // and comes back, with a new version
	if err != nil {
		t.Fatal(err)
	}
	srv2 := &http.Server{Handler: handler}
	go srv2.Serve(ln2)
	t.Cleanup(func() { srv2.Close() })
	tarball, _ = os.ReadFile(fixture.Release(t, app.Elixir, "1.1.0", fixture.Normal))
	put("dist/exfix/exfix-1.1.0.tar.gz", tarball)
	put("versions/exfix/local/current.json", []byte(`{"version":"1.1.0","hash":"def"}`))
	// The poll backs off while the bucket is down (interval × 2^failures, capped), so allow for it.
	h.waitFor("1.1.0 after the bucket is back", 90*time.Second, func() bool { return h.deployed("1.1.0") })
	if e := h.dep.Status(h.name).SourceError; e != "" {
		t.Fatalf("the source error must clear: %q", e)
	}
	choices, err := h.dep.Choices(context.Background(), h.name)
	if err != nil || len(choices) != 2 || !choices[0].InBucket || !choices[0].Deployed {
		t.Fatalf("choices: %+v %v", choices, err)
	}
}

// TestDeployFromGCS deploys a Gleam shipment from a fake GCS over real HTTP.
func TestDeployFromGCS(t *testing.T) {
	t.Parallel()
	gcsServer.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "gleam-releases"})
	h := newHarness(t, app.Gleam, 2, map[string]string{
		"DEPLOYEX_RELEASE_ADAPTER": "gcp-storage", "DEPLOYEX_RELEASE_BUCKET": "gleam-releases",
	})
	put := func(key string, body []byte) {
		gcsServer.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "gleam-releases", Name: key}, Content: body})
	}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		tarball, _ := os.ReadFile(fixture.Release(t, app.Gleam, v, fixture.Normal))
		put("dist/gleamfix/gleamfix-"+v+".tar.gz", tarball)
	}
	put("versions/gleamfix/local/current.json", []byte(`{"version":"1.0.0","hash":""}`))
	h.start(nil)
	h.waitFor("1.0.0 from GCS", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	put("versions/gleamfix/local/current.json", []byte(`{"version":"2.0.0","hash":""}`))
	h.waitFor("2.0.0 from GCS", 60*time.Second, func() bool { return h.deployed("2.0.0") })
}
