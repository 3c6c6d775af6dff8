package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"deployex/app/internal/testapp"
)

func TestHostCardsHistoryAndLiveSamples(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, nil)
	c := a.Client(t)
	c.MustLogin("admin", adminPass)

	dash := c.Get("/").Body
	for _, want := range []string{`id="deployex-card"`, `id="host-card"`, "<dt>OTP node</dt>",
		`href="/apps/myphoenixapp/instances/3/logs/stderr"`, `href="/logs?app=myphoenixapp"`} {
		if !strings.Contains(dash, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}

	// The dashboard's stream refreshes both cards at every sample.
	events := openSSE(t, a, c, "/events", nil)
	expectEvent(t, events, "host-card", `id="host-card"`, 5*time.Second)
	expectEvent(t, events, "deployex-card", "memory (RSS)", 5*time.Second)
	expectEvent(t, events, "host-card", "host-cpu", 5*time.Second) // a card with a sample in it

	live := openSSE(t, a, c, "/host/live", nil)
	var point struct {
		T        float64 `json:"t"`
		CPU      float64 `json:"cpu"`
		MemUsed  uint64  `json:"mem_used"`
		MemTotal uint64  `json:"mem_total"`
		RSS      uint64  `json:"rss"`
	}
	if err := json.Unmarshal([]byte(expectEvent(t, live, "sample", `"t":`, 5*time.Second)), &point); err != nil {
		t.Fatal(err)
	}
	if point.MemTotal == 0 || point.MemUsed > point.MemTotal || point.RSS == 0 || point.CPU < 0 || point.CPU > 100 ||
		time.Since(time.UnixMilli(int64(point.T*1000))) > 5*time.Second {
		t.Errorf("implausible sample %+v", point)
	}

	r := c.Get("/host/history")
	var hist struct {
		T        []float64 `json:"t"`
		CPU      []float64 `json:"cpu"`
		MemUsed  []uint64  `json:"mem_used"`
		MemTotal []uint64  `json:"mem_total"`
		RSS      []uint64  `json:"rss"`
	}
	if err := json.Unmarshal([]byte(r.Body), &hist); err != nil || r.Status != 200 {
		t.Fatalf("history: %d %v\n%s", r.Status, err, r.Body)
	}
	n := len(hist.T)
	if n == 0 || len(hist.CPU) != n || len(hist.MemUsed) != n || len(hist.MemTotal) != n || len(hist.RSS) != n {
		t.Fatalf("history columns of unequal length: %s", r.Body)
	}

	page := c.Get("/host")
	for _, want := range []string{`data-history="/host/history"`, `data-live="/host/live"`, "<th scope=\"row\">CPU</th>",
		"/static/charts.js", "/static/vendor/uplot-1.6.32.min.js"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("host page lacks %s", want)
		}
	}
}

// The BEAM memory history needs a session, a viewer's will do; with
// distribution off it lists no replica and the page says why.
func TestBEAMHistoryWithDistributionOff(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, map[string]string{"DEPLOYEX_OTP_DISTRIBUTION": "false"})
	if r := a.Client(t).Get("/host/beam/history"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Errorf("without a session: %d %q", r.Status, r.Header.Get("Location"))
	}
	admin := a.Client(t)
	admin.MustLogin("admin", adminPass)
	addUser(t, admin, "vic", "viewer")
	viewer := a.Client(t)
	viewer.MustLogin("vic", "vic-password")
	if r := viewer.Get("/host/beam/history"); r.Status != 200 || strings.TrimSpace(r.Body) != `{"replicas":[]}` {
		t.Errorf("a viewer with distribution off: %d %s", r.Status, r.Body)
	}
	page := viewer.Get("/host").Body
	if !strings.Contains(page, "BEAM memory per replica") || !strings.Contains(page, "OTP distribution is off") ||
		strings.Contains(page, `data-history="/host/beam/history"`) {
		t.Errorf("host page with distribution off:\n%s", page)
	}
}
