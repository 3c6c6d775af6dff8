package browsertest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"deployex/app"
	"deployex/app/internal/fixture"
	"deployex/app/internal/testapp"
)

const adminPass = "deployex" // the local-mode default

// startWithReleases runs deployex supervising three replicas of the real
// Erlang fixture, already installed in their current/ folders, with its OTP
// node connected to them (on this test binary's epmd: no other test here
// runs a node).
func startWithReleases(t *testing.T) (a *testapp.App, port int) {
	t.Helper()
	fixture.EPMD(t)
	data := t.TempDir()
	for n := 1; n <= 3; n++ {
		fixture.Install(t, app.Erlang, "1.0.0", fixture.Normal, filepath.Join(data, "varlib/service/erlfix", strconv.Itoa(n), "current"))
	}
	port = fixture.FreePorts(t, 3)
	a = testapp.Start(t, map[string]string{
		"DEPLOYEX_DATA_DIR":                   data,
		"DEPLOYEX_MONITORED_APP_NAME":         "erlfix",
		"DEPLOYEX_MONITORED_APP_LANG":         "erlang",
		"DEPLOYEX_MONITORED_REPLICAS":         "3",
		"DEPLOYEX_MONITORED_APP_PORT":         strconv.Itoa(port),
		"DEPLOYEX_APP_READY_MS":               "1000",
		"DEPLOYEX_STOP_TIMEOUT_MS":            "5000",
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS": "200",
	}, "--stop-apps-on-exit")
	return a, port
}

// card selects a part of replica n's card.
func card(n int, part string) string {
	return fmt.Sprintf("#instance-erlfix-%d %s", n, part)
}

func text(sel string) string {
	return fmt.Sprintf("(document.querySelector(%q) || {}).textContent", sel)
}

// TestOperatorInChromium follows an operator's session: the live
// dashboard through a crash and a restart, a live log page with its
// controls, and the host charts.
func TestOperatorInChromium(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a, port := startWithReleases(t)

	b.login(a, "admin", adminPass)
	b.wait("three running replicas", `[1,2,3].every(n => {
		const s = document.querySelector("#instance-erlfix-" + n + " .status");
		return s && s.textContent === "running" && document.querySelector("#instance-erlfix-" + n + " .pid").textContent !== "—";
	})`, 30*time.Second)
	b.wait("the host card's first sample", `!!document.querySelector("#host-card .host-cpu")`, 5*time.Second)
	b.noProblems("dashboard")

	// kill -9 the VM of replica 2: the crash shows up on the card, live.
	pid, err := strconv.Atoi(eval[string](b, text(card(2, ".pid"))))
	if err != nil {
		t.Fatalf("replica 2's card shows no pid: %v", err)
	}
	if beam := fixture.WaitCall(t, port+1, "os_pid", 5*time.Second); beam != strconv.Itoa(pid) {
		t.Fatalf("card shows pid %d, the VM says it is %s", pid, beam)
	}
	eval[bool](b, "window.notReloaded = true")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.wait("crash count 1 on replica 2 without a reload", text(card(2, ".crashes"))+` === "1" && window.notReloaded === true`, 10*time.Second)

	// Restart replica 1 through its confirmed form.
	b.do("click restart", 10*time.Second, chromedp.Click(chromedp.CSS(card(1, "button.restart"))))
	b.wait("forced restarts 1 on replica 1", text(card(1, ".forced"))+` === "1"`, 20*time.Second)
	if d := b.takeDialogs(); len(d) != 1 || !strings.HasPrefix(d[0], "confirm: Restart erlfix-1?") {
		t.Errorf("dialogs on restart: %q, want one confirmation", d)
	}
	b.wait("replica 1 running again", text(card(1, ".status"))+` === "running"`, 20*time.Second)

	// The stdout page follows what the app prints after it loaded.
	b.open(a, "/apps/erlfix/instances/1/logs/stdout")
	b.wait("the live stream", `document.querySelector("[data-log-state]").textContent === "live"`, 10*time.Second)
	unique := fmt.Sprintf("hello from the browser test %d", time.Now().UnixNano())
	fixture.WaitCall(t, port, "print "+unique, 5*time.Second)
	b.wait("the printed line", fmt.Sprintf(`document.getElementById("log").textContent.includes(%q)`, unique), 10*time.Second)

	// Markup, colours and bytes that are not UTF-8 stay text.
	fixture.WaitCall(t, port, "print <script>alert(1)</script><img src=x onerror=alert(2)> \x1b[31mred\x1b[0m \x1b]0;title\x07done", 5*time.Second)
	f, err := os.OpenFile(filepath.Join(a.Env["DEPLOYEX_LOG_DIR"], "erlfix", "erlfix-1-stdout.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("bytes:\xff\xfe:end\n")
	f.Close()
	b.wait("the nasty lines", `document.getElementById("log").textContent.includes("bytes:\uFFFD\uFFFD:end")`, 10*time.Second)
	logText := eval[string](b, `document.getElementById("log").textContent`)
	if !strings.Contains(logText, "<script>alert(1)</script><img src=x onerror=alert(2)> red done") || strings.ContainsAny(logText, "\x1b\x07") {
		t.Errorf("the nasty line is not shown as plain text: %q", logText)
	}
	if n := eval[int](b, `document.querySelectorAll("#log script, #log img").length`); n != 0 {
		t.Errorf("%d elements came out of a log line", n)
	}

	// Filter, pause, resume, clear.
	b.do("filter", 5*time.Second, chromedp.SendKeys(chromedp.CSS("[data-log-filter]"), "FROM THE BROWSER"))
	b.wait("only the matching line shown", `[...document.querySelectorAll("#log .ln")].filter(l => !l.hidden).length === 1`, 5*time.Second)
	eval[bool](b, `(() => { const f = document.querySelector("[data-log-filter]"); f.value = ""; f.dispatchEvent(new Event("input")); return true })()`)
	b.do("pause", 5*time.Second, chromedp.Click(chromedp.CSS("[data-log-pause]")))
	held := "printed while paused " + unique
	fixture.WaitCall(t, port, "print "+held, 5*time.Second)
	b.wait("the line held", `document.querySelector("[data-log-state]").textContent.startsWith("paused: 1 new line")`, 10*time.Second)
	if eval[bool](b, fmt.Sprintf(`document.getElementById("log").textContent.includes(%q)`, held)) {
		t.Error("a paused view shows new lines")
	}
	b.do("resume", 5*time.Second, chromedp.Click(chromedp.CSS("[data-log-pause]")))
	b.wait("the held line shown", fmt.Sprintf(`document.getElementById("log").textContent.includes(%q)`, held), 5*time.Second)
	b.do("clear", 5*time.Second, chromedp.Click(chromedp.CSS("[data-log-clear]")))
	b.wait("an empty view", `document.getElementById("log").childElementCount === 0`, 5*time.Second)
	b.noProblems("log page")

	// The page following every replica labels each line.
	b.open(a, "/logs?app=erlfix")
	b.wait("the follow stream", `document.querySelector("[data-log-state]").textContent === "live"`, 10*time.Second)
	fixture.WaitCall(t, port+2, "print three "+unique, 5*time.Second)
	b.wait("both streams of replica 3", fmt.Sprintf(`["stdout", "stderr"].every(s => [...document.querySelectorAll("#log .ln")].some(l =>
		l.textContent === "erlfix-3 " + s + " three " + %q))`, unique), 10*time.Second)
	b.noProblems("follow page")

	b.open(a, "/host")
	b.wait("two charts drawn", `document.getElementById("host-charts").dataset.ready === "true" &&
		document.querySelectorAll("#host-charts canvas").length === 2`, 10*time.Second)
	// The BEAM chart: a series with readings for each replica, drawn, and
	// fetched again while the page stays open. Three readings (one every 5 s)
	// make a line across most of the chart; one or two may span a few pixels.
	const beam = `document.querySelector("#beam-charts [data-history]")`
	b.wait("the BEAM chart with three readings of every replica", beam+`.dataset.points &&
		`+beam+`.dataset.points.split(" ").length === 3 && `+beam+`.dataset.points.split(" ").every(n => Number(n) >= 3)`, 30*time.Second)
	// The legend's first row is the time axis.
	if labels := eval[[]string](b, `[...document.querySelectorAll("#beam-charts .u-legend .u-series .u-label")].slice(1).map(l => l.textContent)`); strings.Join(labels, " ") != "erlfix-1 erlfix-2 erlfix-3" {
		t.Errorf("BEAM chart series %q, want one per replica", labels)
	}
	// The lines lie on top of each other (the replicas use about the same
	// memory), so the canvas is only asked to show the series' colours. A
	// 1.5 px line rarely covers a whole pixel of the transparent canvas:
	// partly covered pixels count too (getImageData un-premultiplies them).
	if px := eval[int](b, `(() => {
		const px = document.querySelector("#beam-charts canvas").getContext("2d").getImageData(0, 0, 1e4, 1e4).data;
		const colours = ["--accent", "--info", "--ok"].map(v => getComputedStyle(document.documentElement).getPropertyValue(v).trim())
			.map(hex => [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)));
		let n = 0;
		for (let i = 0; i < px.length; i += 4) {
			if (px[i + 3] >= 128 && colours.some(c => Math.abs(c[0] - px[i]) + Math.abs(c[1] - px[i + 1]) + Math.abs(c[2] - px[i + 2]) < 30)) n++;
		}
		return n;
	})()`); px < 100 {
		t.Errorf("the BEAM chart's canvas has %d pixels of its series' colours: no line drawn", px)
	}
	if rows := eval[int](b, `[...document.querySelectorAll("#beam-charts table tbody tr")].filter(r => /\d+\.\d MiB/.test(r.textContent)).length`); rows != 3 {
		t.Errorf("%d replicas with their memory in the BEAM table, want 3", rows)
	}
	b.wait("the BEAM chart fetched again", beam+`.dataset.fetches >= 2`, 8*time.Second)
	b.noProblems("host page")

	if d := b.takeDialogs(); len(d) > 0 {
		t.Errorf("unexpected dialogs: %q", d)
	}
}

// TestViewerInChromium: a viewer reads everything, is offered no action,
// and the server refuses the actions anyway; a request without the CSRF
// token is refused whoever sends it.
func TestViewerInChromium(t *testing.T) {
	t.Parallel()
	admin := newBrowser(t)
	// No OTP node: the operator's test runs the one this test binary's epmd can hold.
	a := testapp.Start(t, map[string]string{"DEPLOYEX_OTP_DISTRIBUTION": "false"})
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	token := c.CSRF("/users")
	if r := c.PostForm("/users", testapp.Form("_csrf", token, "username", "vera", "password", "vera-password", "role", "viewer")); r.Status != http.StatusSeeOther {
		t.Fatalf("adding a viewer: %d", r.Status)
	}

	viewer := admin.tab()
	viewer.login(a, "vera", "vera-password")
	viewer.wait("three cards", `document.querySelectorAll("article[id^=instance-myphoenixapp-]").length === 3`, 10*time.Second)
	if n := eval[int](viewer, `document.querySelectorAll("main button, main form[method=post]").length`); n != 0 {
		t.Errorf("a viewer is offered %d actions", n)
	}
	if !eval[bool](viewer, `!!document.querySelector("#instance-myphoenixapp-1 a[href$='/logs/stderr']")`) {
		t.Error("a viewer has no link to the logs")
	}
	viewer.open(a, "/apps/myphoenixapp/instances/1/logs/stdout")
	viewer.wait("the log page live", `document.querySelector("[data-log-state]").textContent === "live"`, 10*time.Second)

	post := `fetch("/apps/myphoenixapp/instances/1/restart", {method: "POST", headers: %s}).then(r => r.status)`
	withToken := `{"X-CSRF-Token": JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]}`
	if s := eval[int](viewer, fmt.Sprintf(post, withToken)); s != http.StatusForbidden {
		t.Errorf("a viewer's restart with a valid token: %d, want 403", s)
	}
	admin.login(a, "admin", adminPass)
	if s := eval[int](admin, fmt.Sprintf(post, "{}")); s != http.StatusForbidden {
		t.Errorf("an admin's restart without the token: %d, want 403", s)
	}
	viewer.noProblems("viewer pages")
}
