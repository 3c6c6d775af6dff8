package release

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"deployex/app/config"
)

func newLocalFixture(t *testing.T) fixture {
	root := t.TempDir()
	src, err := newSource(context.Background(), &config.Config{
		ReleaseAdapter: config.AdapterLocal, ReleaseBucket: root, Environment: "prod",
	}, sourceOptions{t: testTimeouts})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{src: src, name: "file://" + root, put: func(t testing.TB, key string, data []byte) {
		p := filepath.Join(root, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}}
}

func TestLocalSource(t *testing.T) { testSource(t, newLocalFixture(t)) }

// A fifo in place of current.json must not hang the poller.
func TestLocalSourceRefusesFifo(t *testing.T) {
	fx := newLocalFixture(t)
	fx.put(t, "versions/myapp/prod/current.json", nil)
	p := filepath.Join(fx.src.(*bucketSource).st.(localStore).root, "versions/myapp/prod/current.json")
	os.Remove(p)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.src.ReadCurrent(context.Background(), "myapp", ""); err == nil {
		t.Fatal("read a fifo")
	}
}
