package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"sync"
)

var (
	versionsOnce sync.Once
	versions     map[string]string
)

// URL is the address of one of deployex's own assets with a digest of its
// content, so a browser that cached the previous deployex's app.js or
// app.css fetches the new one right after an upgrade while unchanged files
// stay cached. Vendored files carry their version in their names instead.
func URL(name string) string {
	versionsOnce.Do(func() {
		versions = map[string]string{}
		entries, _ := fs.ReadDir(FS, ".")
		for _, e := range entries {
			if b, err := fs.ReadFile(FS, e.Name()); err == nil && !e.IsDir() {
				sum := sha256.Sum256(b)
				versions[e.Name()] = hex.EncodeToString(sum[:6])
			}
		}
	})
	if v, ok := versions[name]; ok {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}
