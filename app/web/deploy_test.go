package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"deployex/app"
	"deployex/app/internal/fixture"
	"deployex/app/internal/testapp"
	"deployex/db"
)

// TestSetVersionAndGhostsFromDashboardAndAPI drives the deployer through the
// web: deployex deploys 2.0.0 from a local bucket, an operator pins 1.0.0 from
// the versions page, the API sets it back to automatic, and a ghost is cleared.
func TestSetVersionAndGhostsFromDashboardAndAPI(t *testing.T) {
	fixture.EPMD(t)
	bucket := t.TempDir()
	publish := func(rel string, body []byte) {
		p := filepath.Join(bucket, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		b, _ := os.ReadFile(fixture.Release(t, app.Erlang, v, fixture.Normal))
		publish("dist/erlfix/erlfix-"+v+".tar.gz", b)
	}
	publish("versions/erlfix/local/current.json", []byte(`{"version":"2.0.0","hash":"abc"}`))
	a := testapp.Start(t, map[string]string{
		"DEPLOYEX_RELEASE_BUCKET":              bucket,
		"DEPLOYEX_MONITORED_APP_NAME":          "erlfix",
		"DEPLOYEX_MONITORED_APP_LANG":          "erlang",
		"DEPLOYEX_MONITORED_REPLICAS":          "1",
		"DEPLOYEX_MONITORED_APP_PORT":          strconv.Itoa(fixture.FreePorts(t, 1)),
		"DEPLOYEX_APP_READY_MS":                "500",
		"DEPLOYEX_DEPLOY_SCHEDULE_INTERVAL_MS": "200",
		"DEPLOYEX_OTP_DISTRIBUTION":            "false",
	}, "--stop-apps-on-exit")
	_, tok, _ := a.Command("token", "create", "--name", "ci", "--role", "operator")
	_, viewerTok, _ := a.Command("token", "create", "--name", "look", "--role", "viewer")
	token := strings.TrimSpace(tok)
	api := a.Client(t)
	call := func(method, path, tok, body string) testapp.Response {
		return api.Do(method, path, strings.NewReader(body), map[string]string{
			"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
	}
	on := func(version string) func([]apiInstance) bool {
		return func(in []apiInstance) bool {
			for _, i := range in {
				if i.Version != version || i.LastDeployment == nil || i.LastDeployment.Result != "ok" {
					return false
				}
			}
			return allRunning(in)
		}
	}
	waitInstances(t, api, token, on("2.0.0"))

	admin := a.Client(t)
	admin.MustLogin("admin", adminPass)
	page := admin.Get("/apps/erlfix/versions")
	if page.Status != 200 || !strings.Contains(page.Body, `<option value="1.0.0">`) || !strings.Contains(page.Body, "full_deployment") {
		t.Fatalf("versions page: %d\n%s", page.Status, page.Body)
	}
	csrf := admin.CSRF("/apps/erlfix/versions")
	if r := admin.PostForm("/apps/erlfix/mode", testapp.Form("_csrf", csrf, "mode", "manual", "version", "1.0.0")); r.Status != http.StatusSeeOther {
		t.Fatalf("pin from the page: %d %s", r.Status, r.Body)
	}
	waitInstances(t, api, token, on("1.0.0"))
	dash := admin.Get("/").Body
	if !strings.Contains(dash, "pinned 1.0.0") {
		t.Fatal("the dashboard must show the pinned version")
	}
	// The replica's card: its own last deployment, mTLS, a link to its history.
	card := regexp.MustCompile(`(?s)<article class="card" id="instance-erlfix-1".*?</article>`).FindString(dash)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?s)<dd class="last-deploy">\s*manual 1.0.0 ·\s*<span class="result-ok"[^>]*>ok</span>`),
		regexp.MustCompile(`<dd class="mtls">off</dd>`),
		regexp.MustCompile(`href="/apps/erlfix/versions\?instance=1"`),
	} {
		if !want.MatchString(card) {
			t.Errorf("card lacks %s:\n%s", want, card)
		}
	}
	if r := admin.Get("/apps/erlfix/versions?instance=1"); r.Status != 200 || !strings.Contains(r.Body, "History of erlfix-1") ||
		strings.Count(r.Body, `<td class="result-ok">`) != 2 {
		t.Errorf("replica 1's history: %d\n%s", r.Status, r.Body)
	}
	for _, bad := range []string{"2", "0", "x", "1%27"} {
		if r := admin.Get("/apps/erlfix/versions?instance=" + bad); r.Status != http.StatusNotFound {
			t.Errorf("history of replica %q: %d", bad, r.Status)
		}
	}

	for _, tc := range []struct {
		tok, body string
		want      int
	}{
		{viewerTok, `{"mode":"automatic"}`, 403},
		{token, `{"mode":"manual","version":"1.0;rm -rf /"}`, 422},
		{token, `{"mode":"manual","version":"9.9.9"}`, 422},
		{token, `{"mode":"sideways"}`, 422},
		{token, `not json`, 400},
		{token, `{"mode":"automatic"}`, 200},
	} {
		if r := call("PUT", "/api/v1/apps/erlfix/mode", strings.TrimSpace(tc.tok), tc.body); r.Status != tc.want {
			t.Fatalf("PUT mode %s: %d %s, want %d", tc.body, r.Status, r.Body, tc.want)
		}
	}
	waitInstances(t, api, token, on("2.0.0"))
	var versions struct {
		Versions []struct{ Version, Kind, Trigger, Result string } `json:"versions"`
	}
	json.Unmarshal([]byte(call("GET", "/api/v1/apps/erlfix/versions", token, "").Body), &versions)
	if len(versions.Versions) < 3 || versions.Versions[1].Kind != "manual" || versions.Versions[1].Trigger != "user" {
		t.Fatalf("history: %+v", versions.Versions)
	}
	var one struct {
		Versions []struct{ Instance int } `json:"versions"`
	}
	json.Unmarshal([]byte(call("GET", "/api/v1/apps/erlfix/versions?instance=1", token, "").Body), &one)
	if len(one.Versions) != len(versions.Versions) || one.Versions[0].Instance != 1 {
		t.Errorf("replica 1's history over the API: %+v", one.Versions)
	}
	if r := call("GET", "/api/v1/apps/erlfix/versions?instance=9", token, ""); r.Status != 404 || !strings.Contains(r.Body, `"error"`) {
		t.Errorf("history of a replica that does not exist: %d %s", r.Status, r.Body)
	}

	// A ghost recorded by an earlier rollback is listed and can be cleared.
	store, err := db.Open(context.Background(), filepath.Join(a.Env["DEPLOYEX_DATA_DIR"], "deployex.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.AddGhost(context.Background(), db.AddGhostParams{App: "erlfix", Version: "3.0.0", Reason: "crashed 3 times <b>before</b> stable"})
	ghosts := admin.Get("/apps/erlfix/ghosts")
	if !strings.Contains(ghosts.Body, "3.0.0") || strings.Contains(ghosts.Body, "<b>before") {
		t.Fatalf("ghosts page must list the ghost, escaped:\n%s", ghosts.Body)
	}
	if r := call("DELETE", "/api/v1/apps/erlfix/ghosts/4.0.0", token, ""); r.Status != 422 {
		t.Fatalf("clearing a version that is not ghosted: %d", r.Status)
	}
	if r := call("DELETE", "/api/v1/apps/erlfix/ghosts/3.0.0", token, ""); r.Status != 200 {
		t.Fatalf("clear ghost: %d %s", r.Status, r.Body)
	}
	if strings.Contains(admin.Get("/apps/erlfix/ghosts").Body, "3.0.0") {
		t.Fatal("the ghost must be gone")
	}
	audit := admin.Get("/audit").Body
	for _, want := range []string{"set_mode_manual", "set_mode_automatic", "clear_ghost", "token:ci"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}
