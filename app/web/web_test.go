package web_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"deployex/app/internal/testapp"
)

const adminPass = "deployex" // the local-mode default

func TestLoginRightAndWrongAreAudited(t *testing.T) {
	a := testapp.Start(t, nil)
	c := a.Client(t)

	if r := c.Get("/"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("anonymous dashboard: %d %q, want a redirect to /login", r.Status, r.Header.Get("Location"))
	}
	r := c.Login("admin", "wrong-password")
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "Wrong username or password") {
		t.Fatalf("wrong password: %d", r.Status)
	}
	c.MustLogin("admin", adminPass)
	dash := c.Get("/")
	if dash.Status != 200 || !strings.Contains(dash.Body, "myphoenixapp-3") || !strings.Contains(dash.Body, "idle") {
		t.Fatalf("dashboard: %d\n%s", dash.Status, dash.Body)
	}
	if !strings.Contains(dash.Body, "admin password is the default") {
		t.Error("local mode with the default password must show a banner")
	}
	audit := c.Get("/audit").Body
	for _, want := range []string{">failed<", ">ok<", ">login<"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit page lacks %s", want)
		}
	}
}

func TestLoginRateLimitPerClientAndUser(t *testing.T) {
	a := testapp.Start(t, map[string]string{"DEPLOYEX_BEHIND_TLS_PROXY": "true"})
	from := func(ip string) *testapp.Client {
		c := a.Client(t)
		c.Transport = headerTransport{"X-Forwarded-For": ip}
		return c
	}
	auditor := from("10.0.0.9")
	auditor.MustLogin("admin", adminPass)
	addUser(t, auditor, "auditor", "admin")
	attacker := from("10.0.0.1")
	for i := 0; i < 5; i++ {
		if r := attacker.Login("admin", "nope"); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i+1, r.Status)
		}
	}
	if r := attacker.Login("admin", adminPass); r.Status != http.StatusTooManyRequests {
		t.Fatalf("6th attempt, right password: %d, want 429", r.Status)
	}
	if r := attacker.Login("someone", "x"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("same client, other user: %d, want 429", r.Status)
	}
	if r := from("10.0.0.2").Login("admin", adminPass); r.Status != http.StatusTooManyRequests {
		t.Fatalf("other client, same user: %d, want 429", r.Status)
	}
	if r := from("10.0.0.3").Login("other", "x"); r.Status != http.StatusUnauthorized {
		t.Fatalf("unrelated client and user: %d, want 401", r.Status)
	}
	if !strings.Contains(auditor.Get("/audit").Body, "rate_limited") {
		t.Error("rate-limited attempts must be audited")
	}
}

func TestStateChangesNeedTheCSRFToken(t *testing.T) {
	a := testapp.Start(t, nil)
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	form := testapp.Form("username", "eve", "password", "password123", "role", "admin")
	if r := c.PostForm("/users", form); r.Status != http.StatusForbidden {
		t.Fatalf("POST without token: %d, want 403", r.Status)
	}
	form.Set("_csrf", "forged")
	if r := c.PostForm("/users", form); r.Status != http.StatusForbidden {
		t.Fatalf("POST with a forged token: %d, want 403", r.Status)
	}
	// The login itself is protected too.
	fresh := a.Client(t)
	if r := fresh.PostForm("/login", testapp.Form("username", "admin", "password", adminPass)); r.Status != http.StatusForbidden {
		t.Fatalf("login without token: %d, want 403", r.Status)
	}
	// htmx sends the token as a header.
	token := c.CSRF("/users")
	r := c.Do("POST", "/logout", nil, map[string]string{"X-CSRF-Token": token, "HX-Request": "true"})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("htmx POST with header token: %d", r.Status)
	}
}

func TestRolesAreCheckedOnTheServer(t *testing.T) {
	a := testapp.Start(t, nil)
	admin := a.Client(t)
	admin.MustLogin("admin", adminPass)
	addUser(t, admin, "vera", "viewer")

	viewer := a.Client(t)
	viewer.MustLogin("vera", "vera-password")
	if r := viewer.Get("/"); r.Status != 200 || strings.Contains(r.Body, `href="/users"`) {
		t.Fatalf("viewer dashboard: %d (users link shown: %v)", r.Status, strings.Contains(r.Body, `href="/users"`))
	}
	if r := viewer.Get("/users"); r.Status != http.StatusForbidden {
		t.Fatalf("viewer GET /users: %d, want 403", r.Status)
	}
	token := viewer.CSRF("/")
	r := viewer.PostForm("/users", testapp.Form("_csrf", token, "username", "mallory", "password", "password123", "role", "admin"))
	if r.Status != http.StatusForbidden {
		t.Fatalf("viewer creating an admin: %d, want 403", r.Status)
	}
	if r := viewer.Get("/backup"); r.Status != http.StatusForbidden {
		t.Fatalf("viewer backup: %d, want 403", r.Status)
	}
	if strings.Contains(admin.Get("/users").Body, "mallory") {
		t.Fatal("the forged user was created")
	}
}

func TestPasswordResetAndDeleteEndOtherSessions(t *testing.T) {
	a := testapp.Start(t, nil)
	admin := a.Client(t)
	admin.MustLogin("admin", adminPass)
	addUser(t, admin, "otto", "operator")
	otto := a.Client(t)
	otto.MustLogin("otto", "otto-password")

	token := admin.CSRF("/users")
	if r := admin.PostForm("/users/otto/password", testapp.Form("_csrf", token, "password", "new-password-1")); r.Status != http.StatusSeeOther {
		t.Fatalf("reset password: %d\n%s", r.Status, r.Body)
	}
	if r := otto.Get("/"); r.Status != http.StatusSeeOther {
		t.Fatalf("otto's old session after a reset: %d, want a redirect to /login", r.Status)
	}
	otto.MustLogin("otto", "new-password-1")
	r := admin.PostForm("/users/otto/delete", testapp.Form("_csrf", token))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := otto.Get("/"); r.Status != http.StatusSeeOther {
		t.Fatalf("deleted user's session: %d, want a redirect", r.Status)
	}
	if r := admin.PostForm("/users/admin/delete", testapp.Form("_csrf", token)); r.Status != http.StatusConflict {
		t.Fatalf("deleting oneself: %d, want 409", r.Status)
	}
}

func TestSessionSurvivesRestartAndLogoutEndsIt(t *testing.T) {
	a := testapp.Start(t, nil)
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	a.Restart(t)
	if r := c.Get("/"); r.Status != 200 {
		t.Fatalf("after restart: %d, want the session to survive", r.Status)
	}
	// Keep a copy of the cookie to replay after logout.
	stolen := a.Client(t)
	u := mustURL(t, a.URL)
	stolen.Jar.SetCookies(u, c.Jar.Cookies(u))
	token := c.CSRF("/")
	if r := c.PostForm("/logout", testapp.Form("_csrf", token)); r.Status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.Status)
	}
	if r := stolen.Get("/"); r.Status != http.StatusSeeOther {
		t.Fatalf("replayed cookie after logout: %d, want a redirect to /login", r.Status)
	}
}

func TestSecurityHeadersAndErrors(t *testing.T) {
	a := testapp.Start(t, nil)
	c := a.Client(t)
	r := c.Get("/login")
	for h, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	} {
		if !strings.Contains(r.Header.Get(h), want) {
			t.Errorf("%s = %q, want it to contain %q", h, r.Header.Get(h), want)
		}
	}
	ck := r.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") || strings.Contains(ck, "Secure") {
		t.Errorf("session cookie over plain HTTP: %q", ck)
	}
	https := c.Do("GET", "/login", nil, map[string]string{"X-Forwarded-Proto": "https"})
	if strings.Contains(https.Header.Get("Set-Cookie"), "Secure") {
		t.Error("X-Forwarded-Proto must not be trusted unless DEPLOYEX_BEHIND_TLS_PROXY is set")
	}
	if r := c.Get("/nowhere"); r.Status != http.StatusSeeOther {
		t.Errorf("anonymous unknown path: %d, want the login redirect (no path probing)", r.Status)
	}
	c.MustLogin("admin", adminPass)
	if r := c.Get("/nowhere"); r.Status != 404 || !strings.Contains(r.Body, "Not found") {
		t.Errorf("404 page: %d", r.Status)
	}
	hostile := `"><script>alert(1)</script>`
	if r := a.Client(t).Login(hostile, "x"); strings.Contains(r.Body, "<script>alert") || !strings.Contains(r.Body, "&lt;script&gt;") {
		t.Errorf("the echoed username must be HTML-escaped")
	}
	// Pages name the stylesheet by its content, so an upgraded deployex's
	// CSS is fetched at once and an unchanged one stays cached.
	css := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]{12})"`).FindStringSubmatch(a.Client(t).Get("/login").Body)
	if css == nil {
		t.Fatal("the login page does not name a versioned app.css")
	}
	if r := c.Get(css[1]); r.Status != 200 || !strings.Contains(r.Header.Get("Content-Type"), "text/css") ||
		!strings.Contains(r.Header.Get("Cache-Control"), "max-age=2592000") {
		t.Errorf("static css: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"))
	}
	if r := c.Get("/health"); r.Status != 200 || r.Body != `{"status":"ok"}` {
		t.Errorf("health: %d %s", r.Status, r.Body)
	}
	proxied := testapp.Start(t, map[string]string{"DEPLOYEX_BEHIND_TLS_PROXY": "true"})
	pr := proxied.Client(t).Do("GET", "/login", nil, map[string]string{"X-Forwarded-Proto": "https"})
	if !strings.Contains(pr.Header.Get("Set-Cookie"), "; Secure") {
		t.Errorf("behind a TLS proxy the cookie must be Secure: %q", pr.Header.Get("Set-Cookie"))
	}
}

func TestAPITokens(t *testing.T) {
	a := testapp.Start(t, nil)
	code, token, stderr := a.Command("token", "create", "--name", "ci", "--role", "operator")
	if code != 0 || !strings.HasPrefix(token, "dx_") {
		t.Fatalf("token create: %d %q %s", code, token, stderr)
	}
	token = strings.TrimSpace(token)
	c := a.Client(t)
	get := func(tok string) testapp.Response {
		return c.Do("GET", "/api/v1/apps", nil, map[string]string{"Authorization": "Bearer " + tok})
	}
	r := get(token)
	if r.Status != 200 {
		t.Fatalf("good token: %d %s", r.Status, r.Body)
	}
	var body struct {
		Apps []struct {
			Name      string   `json:"name"`
			Language  string   `json:"language"`
			Mode      string   `json:"mode"`
			Ghosted   []string `json:"ghosted"`
			Instances []struct {
				Instance int    `json:"instance"`
				Status   string `json:"status"`
				Port     int    `json:"port"`
			} `json:"instances"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Apps) != 1 || body.Apps[0].Name != "myphoenixapp" || body.Apps[0].Mode != "automatic" ||
		body.Apps[0].Ghosted == nil || len(body.Apps[0].Instances) != 3 || body.Apps[0].Instances[2].Port != 4002 ||
		body.Apps[0].Instances[0].Status != "idle" {
		t.Fatalf("apps body: %s", r.Body)
	}
	if r := get("dx_wrong"); r.Status != 401 || !strings.Contains(r.Body, `"error"`) {
		t.Fatalf("wrong token: %d %s", r.Status, r.Body)
	}
	if r := c.Do("GET", "/api/v1/nothing", nil, map[string]string{"Authorization": "Bearer " + token}); r.Status != 404 || !strings.Contains(r.Body, `"error"`) {
		t.Fatalf("unknown API path: %d %s", r.Status, r.Body)
	}
	if r := c.Get("/api/v1/apps"); r.Status != 401 {
		t.Fatalf("no token: %d", r.Status)
	}
	if r := c.Do("GET", "/api/v1/apps/nope/versions", nil, map[string]string{"Authorization": "Bearer " + token}); r.Status != 404 || !strings.Contains(r.Body, "unknown app") {
		t.Fatalf("unknown app: %d %s", r.Status, r.Body)
	}
	_, list, _ := a.Command("token", "list")
	if !strings.Contains(list, "ci") || strings.Contains(list, "never") {
		t.Fatalf("token list must show the last use:\n%s", list)
	}
	if code, _, stderr := a.Command("token", "revoke", "ci"); code != 0 {
		t.Fatalf("revoke: %d %s", code, stderr)
	}
	if r := get(token); r.Status != 401 {
		t.Fatalf("revoked token: %d", r.Status)
	}
}

func TestBackupWhileServing(t *testing.T) {
	a := testapp.Start(t, nil)
	admin := a.Client(t)
	admin.MustLogin("admin", adminPass)
	addUser(t, admin, "bob", "viewer")

	file := filepath.Join(t.TempDir(), "copy.db")
	if code, _, stderr := a.Command("backup", file); code != 0 {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM users WHERE username IN ('admin', 'bob')").Scan(&n); err != nil || n != 2 {
		t.Fatalf("users in backup: %d, %v", n, err)
	}
	r := admin.Get("/backup")
	if r.Status != 200 || !strings.HasPrefix(r.Body, "SQLite format 3") ||
		!strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("UI backup: %d %q", r.Status, r.Header.Get("Content-Disposition"))
	}
}

func addUser(t *testing.T, admin *testapp.Client, name, role string) {
	t.Helper()
	token := admin.CSRF("/users")
	r := admin.PostForm("/users", testapp.Form("_csrf", token, "username", name, "password", name+"-password", "role", role))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("add user %s: %d\n%s", name, r.Status, r.Body)
	}
}

type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestMetricsNeedTokenOrSession(t *testing.T) {
	a := testapp.Start(t, nil)
	c := a.Client(t)
	if r := c.Get("/metrics"); r.Status != http.StatusSeeOther {
		t.Fatalf("anonymous metrics: %d", r.Status)
	}
	_, token, _ := a.Command("token", "create", "--name", "prom", "--role", "viewer")
	r := c.Do("GET", "/metrics", nil, map[string]string{"Authorization": "Bearer " + strings.TrimSpace(token)})
	if r.Status != 200 || !strings.Contains(r.Body, `deployex_instance_crash_restarts{app="myphoenixapp",instance="3",version=""} 0`) {
		t.Fatalf("metrics with token: %d\n%s", r.Status, r.Body)
	}
	if r := c.Do("GET", "/metrics", nil, map[string]string{"Authorization": "Bearer dx_nope"}); r.Status != 401 {
		t.Fatalf("metrics with a bad token: %d", r.Status)
	}
	c.MustLogin("admin", adminPass)
	if r := c.Get("/metrics"); r.Status != 200 || !strings.Contains(r.Body, "deployex_uptime_seconds") {
		t.Fatalf("metrics with a session: %d", r.Status)
	}
}

func TestIdleSessionsExpireWithoutAWritePerRequest(t *testing.T) {
	a := testapp.Start(t, map[string]string{"DEPLOYEX_SESSION_IDLE_TIMEOUT_MS": "1500"})
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	c.Get("/") // creates the page's CSRF token: one write
	for i := 0; i < 3; i++ {
		r := c.Get("/")
		if r.Status != 200 || r.Header.Get("Set-Cookie") != "" {
			t.Fatalf("request %d: %d, Set-Cookie %q: a plain page view must not rewrite the session", i, r.Status, r.Header.Get("Set-Cookie"))
		}
	}
	time.Sleep(1700 * time.Millisecond)
	if r := c.Get("/"); r.Status != http.StatusSeeOther {
		t.Fatalf("after the idle timeout: %d, want the login redirect", r.Status)
	}
}
