// Package testapp boots the whole deployex program in-process, the way
// `deployex serve` runs, against temp folders and a real TCP port, so tests
// talk to it over real HTTP.
package testapp

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"deployex/app/cli"
)

// App is one running deployex.
type App struct {
	URL    string
	Env    map[string]string
	Stderr *SyncBuffer
	cancel context.CancelFunc
	done   chan int
}

// Start runs `deployex serve` with env on top of test defaults and waits
// until /health answers. The app is stopped when the test ends.
func Start(t testing.TB, env map[string]string, args ...string) *App {
	t.Helper()
	full := map[string]string{
		"DEPLOYEX_DATA_DIR":       t.TempDir(),
		"DEPLOYEX_LOG_DIR":        t.TempDir(),
		"DEPLOYEX_RELEASE_BUCKET": t.TempDir(),
		"DEPLOYEX_PHX_PORT":       strconv.Itoa(FreePort(t)),
	}
	for k, v := range env {
		full[k] = v
	}
	a := &App{Env: full}
	a.start(t, args)
	t.Cleanup(func() { a.Stop() })
	return a
}

func (a *App) start(t testing.TB, args []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done, a.Stderr = cancel, make(chan int, 1), &SyncBuffer{}
	a.URL = "http://127.0.0.1:" + a.Env["DEPLOYEX_PHX_PORT"]
	go func() {
		a.done <- cli.Run(ctx, cli.Env{Args: append([]string{"serve"}, args...), Getenv: a.Getenv,
			Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: a.Stderr})
	}()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-a.done:
			t.Fatalf("deployex exited with %d before serving:\n%s", code, a.Stderr)
		default:
		}
		if resp, err := http.Get(a.URL + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("deployex did not answer /health within 15 s:\n%s", a.Stderr)
}

// Getenv serves the app's environment.
func (a *App) Getenv(k string) (string, bool) {
	v, ok := a.Env[k]
	return v, ok
}

// Stop ends the app like SIGTERM would and returns its exit code.
func (a *App) Stop() int {
	if a.cancel == nil {
		return 0
	}
	a.cancel()
	a.cancel = nil
	select {
	case code := <-a.done:
		return code
	case <-time.After(20 * time.Second):
		panic("deployex did not stop within 20 s")
	}
}

// Restart stops the app and starts it again on the same folders and port.
func (a *App) Restart(t testing.TB, args ...string) {
	t.Helper()
	if code := a.Stop(); code != 0 {
		t.Fatalf("deployex exited with %d:\n%s", code, a.Stderr)
	}
	a.start(t, args)
}

// Command runs another deployex subcommand (token, backup, …) with the app's environment.
func (a *App) Command(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), cli.Env{Args: args, Getenv: a.Getenv, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Client is a browser-like HTTP client: it keeps cookies and does not follow redirects.
type Client struct {
	*http.Client
	t    testing.TB
	base string
}

// Client returns a fresh client with an empty cookie jar.
func (a *App) Client(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{
		Client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		t: t, base: a.URL,
	}
}

// Response is a read body with its status and headers.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends a request and reads the whole answer.
func (c *Client) Do(method, path string, body io.Reader, header map[string]string) Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// Get fetches path.
func (c *Client) Get(path string) Response { return c.Do("GET", path, nil, nil) }

// PostForm posts form values as a browser form would.
func (c *Client) PostForm(path string, form url.Values) Response {
	return c.Do("POST", path, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// CSRF loads path and returns the form token it carries.
func (c *Client) CSRF(path string) string {
	c.t.Helper()
	r := c.Get(path)
	m := csrfRE.FindStringSubmatch(r.Body)
	if m == nil {
		c.t.Fatalf("no CSRF token on %s (status %d)", path, r.Status)
	}
	return m[1]
}

// Login signs in through the login form and returns the POST's response.
func (c *Client) Login(user, password string) Response {
	c.t.Helper()
	token := c.CSRF("/login")
	return c.PostForm("/login", url.Values{"_csrf": {token}, "username": {user}, "password": {password}})
}

// MustLogin signs in and fails the test unless it worked.
func (c *Client) MustLogin(user, password string) {
	c.t.Helper()
	if r := c.Login(user, password); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		c.t.Fatalf("login as %s: status %d, location %q", user, r.Status, r.Header.Get("Location"))
	}
}

// SyncBuffer is a bytes.Buffer safe for the app's logger and the test to share.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Form is a shorthand for url.Values from pairs.
func Form(pairs ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Add(pairs[i], pairs[i+1])
	}
	return v
}
