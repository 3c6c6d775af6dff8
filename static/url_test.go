package static

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	css := URL("app.css")
	if !strings.HasPrefix(css, "/static/app.css?v=") || len(css) != len("/static/app.css?v=")+12 {
		t.Errorf("URL(app.css) = %q", css)
	}
	if URL("app.js") == strings.Replace(css, "app.css", "app.js", 1) {
		t.Error("two files with one digest")
	}
	if got := URL("vendor/htmx-2.0.11.min.js"); got != "/static/vendor/htmx-2.0.11.min.js" {
		t.Errorf("a vendored file: %q", got)
	}
}
