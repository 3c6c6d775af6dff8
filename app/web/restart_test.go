package web_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/internal/fixture"
	"deployex/app/internal/testapp"
)

type apiInstance struct {
	Instance       int    `json:"instance"`
	Status         string `json:"status"`
	OSPid          int    `json:"os_pid"`
	ForcedRestarts int    `json:"forced_restarts"`
	CrashRestarts  int    `json:"crash_restarts"`
	Version        string `json:"version"`
	LastDeployment *struct {
		Version string `json:"version"`
		Result  string `json:"result"`
	} `json:"last_deployment"`
}

// startWithRelease runs deployex supervising two replicas of the real Erlang
// fixture, already installed in their current/ folders.
func startWithRelease(t *testing.T) *testapp.App {
	t.Helper()
	fixture.EPMD(t)
	data := t.TempDir()
	for n := 1; n <= 2; n++ {
		fixture.Install(t, app.Erlang, "1.0.0", fixture.Normal, filepath.Join(data, "varlib/service/erlfix", strconv.Itoa(n), "current"))
	}
	return testapp.Start(t, map[string]string{
		"DEPLOYEX_DATA_DIR":                   data,
		"DEPLOYEX_MONITORED_APP_NAME":         "erlfix",
		"DEPLOYEX_MONITORED_APP_LANG":         "erlang",
		"DEPLOYEX_MONITORED_REPLICAS":         "2",
		"DEPLOYEX_MONITORED_APP_PORT":         strconv.Itoa(fixture.FreePorts(t, 2)),
		"DEPLOYEX_APP_READY_MS":               "1000",
		"DEPLOYEX_STOP_TIMEOUT_MS":            "5000",
		"DEPLOYEX_OTP_DISTRIBUTION":           "false",
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS": "200",
	}, "--stop-apps-on-exit")
}

// instances reads the replicas through the API until ok accepts them.
func waitInstances(t *testing.T, c *testapp.Client, token string, ok func([]apiInstance) bool) []apiInstance {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r := c.Do("GET", "/api/v1/apps", nil, map[string]string{"Authorization": "Bearer " + token})
		var body struct {
			Apps []struct {
				Instances []apiInstance `json:"instances"`
			} `json:"apps"`
		}
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil || len(body.Apps) != 1 {
			t.Fatalf("apps: %d %s", r.Status, r.Body)
		}
		last = r.Body
		if ok(body.Apps[0].Instances) {
			return body.Apps[0].Instances
		}
	}
	t.Fatalf("replicas never reached the expected state; last: %s", last)
	return nil
}

func allRunning(in []apiInstance) bool {
	for _, i := range in {
		if i.Status != "running" || i.OSPid == 0 {
			return false
		}
	}
	return len(in) > 0
}

func TestRestartFromDashboardAndAPI(t *testing.T) {
	a := startWithRelease(t)
	token := func(name, role string) string {
		code, out, stderr := a.Command("token", "create", "--name", name, "--role", role)
		if code != 0 {
			t.Fatal(stderr)
		}
		return strings.TrimSpace(out)
	}
	opToken, viewerToken := token("ci", "operator"), token("look", "viewer")
	api := a.Client(t)
	before := waitInstances(t, api, opToken, allRunning)

	admin := a.Client(t)
	admin.MustLogin("admin", adminPass)
	addUser(t, admin, "vera", "viewer")
	viewer := a.Client(t)
	viewer.MustLogin("vera", "vera-password")
	if strings.Contains(viewer.Get("/").Body, "Restart") {
		t.Fatal("a viewer must see no restart buttons")
	}
	vtok := viewer.CSRF("/")
	if r := viewer.PostForm("/apps/erlfix/instances/1/restart", testapp.Form("_csrf", vtok)); r.Status != http.StatusForbidden {
		t.Fatalf("viewer restart: %d, want 403", r.Status)
	}

	if !strings.Contains(admin.Get("/").Body, "Restart all") {
		t.Fatal("an admin sees the restart buttons")
	}
	tok := admin.CSRF("/")
	if r := admin.PostForm("/apps/erlfix/instances/1/restart", testapp.Form("_csrf", tok)); r.Status != http.StatusSeeOther {
		t.Fatalf("restart from the dashboard: %d", r.Status)
	}
	waitInstances(t, api, opToken, func(in []apiInstance) bool {
		return allRunning(in) && in[0].ForcedRestarts == 1 && in[0].OSPid != before[0].OSPid && in[0].CrashRestarts == 0
	})

	post := func(tok, path string) testapp.Response {
		return api.Do("POST", path, nil, map[string]string{"Authorization": "Bearer " + tok})
	}
	if r := post(viewerToken, "/api/v1/apps/erlfix/instances/2/restart"); r.Status != http.StatusForbidden {
		t.Fatalf("viewer token restart: %d", r.Status)
	}
	for path, want := range map[string]int{
		"/api/v1/apps/nope/restart":               404,
		"/api/v1/apps/erlfix/instances/9/restart": 404,
		"/api/v1/apps/erlfix/instances/x/restart": 404,
		"/api/v1/apps/erlfix/instances/2/restart": 202,
	} {
		if r := post(opToken, path); r.Status != want {
			t.Fatalf("POST %s: %d %s, want %d", path, r.Status, r.Body, want)
		}
	}
	waitInstances(t, api, opToken, func(in []apiInstance) bool {
		return allRunning(in) && in[1].ForcedRestarts == 1 && in[1].OSPid != before[1].OSPid
	})
	audit := admin.Get("/audit").Body
	for _, want := range []string{"<td>admin</td><td>restart</td><td>erlfix-1</td>", "<td>token:ci</td><td>restart</td><td>erlfix-2</td>"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
}
