// Package browsertest drives Debian's Chromium, headless, against the real
// deployex server supervising real releases: what a user sees and clicks,
// with the pages' own scripts, the CSP and the SSE streams in play.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"deployex/app/internal/testapp"
)

const chromium = "/usr/bin/chromium"

// watchdog is installed in every document before its own scripts run: it
// records CSP violations and uncaught errors, which would otherwise only
// reach the console.
const watchdog = `window.__problems = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__problems.push("CSP " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});
window.addEventListener("error", function (e) { window.__problems.push("error: " + e.message); });`

// browser is one headless Chromium with one tab, whose user data lives in
// the test's temp dir.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	dialogs []string // messages of the dialogs the page opened, all accepted
}

// newBrowser starts Chromium or fails the test: a machine without it cannot
// vouch for the dashboard.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := exec.LookPath(chromium); err != nil {
		t.Fatalf("browser tests need Debian's chromium at %s (apt-get install -y chromium; .ci/run does): %v", chromium, err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	// No timeout on the context of the first run: ending it stops the browser.
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	b.prepareTab()
	return b
}

// tab opens a second tab with its own cookies, as another person would.
func (b *browser) tab() *browser {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	o := &browser{t: b.t, ctx: ctx}
	o.prepareTab()
	return o
}

// prepareTab installs the watchdog and accepts every dialog, noting its
// message: confirm() must be answered or the page stalls.
func (b *browser) prepareTab() {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchdog}); err != nil {
		b.t.Fatalf("starting chromium: %v", err)
	}
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			b.mu.Unlock()
			chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	b.t.Cleanup(func() {
		if b.t.Failed() {
			b.screenshot()
		}
	})
}

func (b *browser) takeDialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.dialogs
	b.dialogs = nil
	return d
}

// do runs steps within timeout and fails the test with what was being done.
func (b *browser) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// wait polls a JavaScript condition until it holds. A navigation meanwhile
// (a form posted, a redirect) fails the poll with one of several protocol
// errors; it starts again on the new page.
func (b *browser) wait(what, cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		ctx, cancel := context.WithTimeout(b.ctx, left+time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(left)))
		cancel()
		switch {
		case err == nil:
			return
		case time.Now().Before(deadline):
			time.Sleep(50 * time.Millisecond)
		default:
			b.t.Fatalf("%s: %v", what, err)
		}
	}
}

// eval returns the value of a JavaScript expression (awaiting a promise).
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// open loads a page and waits for its scripts.
func (b *browser) open(a *testapp.App, path string) {
	b.t.Helper()
	b.do("open "+path, 15*time.Second, chromedp.Navigate(a.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// login signs in through the form.
func (b *browser) login(a *testapp.App, user, password string) {
	b.t.Helper()
	b.open(a, "/login")
	b.do("log in as "+user, 15*time.Second,
		chromedp.SendKeys(chromedp.CSS("input[name=username]"), user),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), password),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".logout .who")),
	)
}

// noProblems fails the test if the page broke its CSP or threw.
func (b *browser) noProblems(where string) {
	b.t.Helper()
	if p := eval[[]string](b, "window.__problems || []"); len(p) > 0 {
		b.t.Errorf("%s: %s", where, strings.Join(p, "; "))
	}
}

// screenshot saves the page as a PNG where it survives the test: the
// failure artifact for whoever reads the log.
func (b *browser) screenshot() {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		b.t.Logf("no screenshot: %v", err)
		return
	}
	dir := os.Getenv("DEPLOYEX_TEST_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	name := fmt.Sprintf("deployex-%s-%s.png", strings.ReplaceAll(b.t.Name(), "/", "_"), time.Now().Format("20060102-150405.000"))
	path := filepath.Join(dir, name)
	if err := errors.Join(os.MkdirAll(dir, 0o755), os.WriteFile(path, png, 0o644)); err != nil {
		b.t.Logf("saving the screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot of the failure: %s", path)
}
