package deploy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

func TestExpectMatchesWholeWords(t *testing.T) {
	for _, tc := range []struct {
		body, expect string
		want         bool
	}{
		{"ok build 1", "1", true},
		{"ok build 10", "1", false},
		{"ok build 21", "1", false},
		{"version 2025.03.14-1", "1", false},
		{"version 2025.03.14-1", "2025.03.14-1", true},
		{"version 2025.03.14-12", "2025.03.14-1", false},
		{"ok build 3.", "3", true},
		{"ok build 3-", "3", true},
		{`{"build":"1338"}`, "133", false},
		{`{"build":"133"}`, "133", true},
		{"build 10, then build 1", "1", true},
		{"ok build 1_a", "1", false},
		{"ok", "ok build 1", false},
		{"ok build 1 ready", "ok build 1", true},
		{"1", "1", true},
	} {
		if got := deploy.ContainsWord(tc.body, tc.expect); got != tc.want {
			t.Errorf("ContainsWord(%q, %q) = %v, want %v", tc.body, tc.expect, got, tc.want)
		}
	}
}

// TestHealthURLRedirectFails: a host whose health URL redirects (its app
// down, a proxy sending people elsewhere) fails its check, even when the
// other server answers 200 with the build.
func TestHealthURLRedirectFails(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok build 1") // another host, healthy on build 1
	}))
	defer other.Close()
	var hits atomic.Int64
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, other.URL+"/health", http.StatusFound)
	}))
	defer host.Close()
	yaml := strings.Replace(failingHealth(fmt.Sprintf(fixtureYAML, "true")),
		`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`,
		`url: `+host.URL+`/health
      expect: "{build}"`, 1)
	f := newFixtureFrom(t, yaml, &local.Transport{})
	f.build("1")
	rec, err := f.run(deploy.KindDeploy, "1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome == deploy.OutcomeSucceeded || hits.Load() == 0 || !strings.Contains(rec.Error, "302") {
		t.Errorf("outcome %s (%s) after %d checks answered 302; want the deploy failed on the redirect", rec.Outcome, rec.Error, hits.Load())
	}
}

// TestHealthCommandGetsPrevious: a health command gets SWITCHMAN_PREVIOUS,
// as the restart and the hooks do.
func TestHealthCommandGetsPrevious(t *testing.T) {
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"),
		`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`,
		`command: 'echo "$SWITCHMAN_BUILD after $SWITCHMAN_PREVIOUS" >> ../health.log'`, 1)
	f := newFixtureFrom(t, yaml, &local.Transport{})
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	b, err := os.ReadFile(filepath.Join(f.dir, "srv", "health.log"))
	if err != nil || !strings.Contains(string(b), "2 after 1") {
		t.Errorf("health commands' log %q (%v), want the check of 2 to see 1 as previous", b, err)
	}
}

// TestHealthURLSecretsNotShown: a health URL's user info (basic auth)
// and query (a token) are secrets, which a failed check shows nowhere:
// not in the deploy's record (status, history), its progress or the
// log. The URL's host and path are still named.
func TestHealthURLSecretsNotShown(t *testing.T) {
	const (
		password = "hunter2-pass"
		token    = "tok-9f8e7d"
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok build 0")
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name, addr, path, expect string
		url                      string // default: http://deploy:password@addr/path?token=token
	}{
		{"error status", srv.Listener.Addr().String(), "/down", "", ""},
		{"body without the build", srv.Listener.Addr().String(), "/health", "{build}", ""},
		{"nothing listens", closed.Listener.Addr().String(), "/health", "", ""},
		// A password with an unescaped / does not load: the config
		// refuses it without showing it (config's
		// TestURLPasswordNotPercentEncoded), and redact.URL hides it
		// whole should one reach a message (redact's TestURL).
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.url
			if raw == "" {
				raw = "http://deploy:" + password + "@" + tc.addr + tc.path + "?token=" + token
			}
			health := "url: " + strconv.Quote(raw)
			if tc.expect != "" {
				health += "\n      expect: " + strconv.Quote(tc.expect)
			}
			yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"),
				`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'
      timeout: 30s`, health+"\n      timeout: 300ms", 1)
			var log syncbuf.Buffer
			f := newFixtureWith(t, yaml, func(o *deploy.Options) {
				o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			f.build("1")
			rec, err := f.run(deploy.KindDeploy, "1")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Outcome == deploy.OutcomeSucceeded {
				t.Fatalf("outcome %s, want the health check to fail", rec.Outcome)
			}
			if want := tc.addr + tc.path; !strings.Contains(rec.Error, want) {
				t.Errorf("record error %q, want it to name %s", rec.Error, want)
			}
			shown := map[string]string{"record error": rec.Error, "log": log.String()}
			for _, h := range rec.Hosts {
				shown["host "+h.Host+" error"] = h.Error
			}
			f.mu.Lock()
			for i, ev := range f.events {
				shown[fmt.Sprintf("event %d", i)] = ev.Err
			}
			f.mu.Unlock()
			for what, s := range shown {
				for _, secret := range []string{password, token} {
					if strings.Contains(s, secret) {
						t.Errorf("%s shows a secret of the health URL: %q", what, s)
						break
					}
				}
			}
		})
	}
}

// TestHealthExpectOnBodyCutShort: of a long health answer only its start
// is read, and expect must appear there as a whole word: "build 1" where
// the read stops inside "build 10" does not pass for build 1, and the
// failure says that only the start was searched.
func TestHealthExpectOnBodyCutShort(t *testing.T) {
	const limit = 64 << 10
	filler := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name, body string
		pass       bool
		errHas     string
	}{
		{"whole answer", "ok build 1\n", true, ""},
		{"build early in a long answer", "ok build 1\n" + filler(2*limit), true, ""},
		{"another build cut after its prefix", filler(limit-len(" build 1")) + " build 10\n", false, "first 64 KiB"},
		{"another build cut after its dot", filler(limit-len(" build 1.")) + " build 1.5\n", false, "first 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			// A check that fails ends when its timeout runs out, which is
			// short; one that passes must not be failed by a loaded
			// machine's slow first attempt.
			timeout := "300ms"
			if tc.pass {
				timeout = "1m"
			}
			yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"),
				`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'
      timeout: 30s`, `url: `+srv.URL+`/health
      expect: "{build}"
      timeout: `+timeout, 1)
			f := newFixtureFrom(t, yaml, &local.Transport{})
			f.build("1")
			rec, err := f.run(deploy.KindDeploy, "1")
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Outcome == deploy.OutcomeSucceeded; got != tc.pass {
				t.Fatalf("outcome %s (%s); want the check passed: %v", rec.Outcome, rec.Error, tc.pass)
			}
			if !strings.Contains(rec.Error, tc.errHas) {
				t.Errorf("error %q, want it to say %q", rec.Error, tc.errHas)
			}
		})
	}
}

// TestHealthURLIPv6Host: a health URL whose host is an IPv6 address from
// a host's vars, written in brackets as URLs want it, loads and passes.
func TestHealthURLIPv6Host(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintln(w, "ok build 1")
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"),
		`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`,
		`url: http://[{ip}]:`+port+`/health
      expect: "{build}"`, 1)
	yaml = strings.Replace(yaml, "hosts: [localhost]", "hosts: [{name: localhost, vars: {ip: '::1'}}]", 1)
	f := newFixtureFrom(t, yaml, &local.Transport{})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if hits.Load() == 0 {
		t.Errorf("the server at [::1]:%s got no health check", port)
	}
}

// TestHealthURLReachesTheRestartedProcess: each HTTP check opens a
// connection of its own. A process a graceful restart replaces goes on
// answering the connections it accepted while the new one takes the new
// ones; a connection kept from the check before the restart would have
// the old process judged again, failing a good build.
func TestHealthURLReachesTheRestartedProcess(t *testing.T) {
	type acceptedKey struct{}
	var running atomic.Value // the file the restart writes the build it starts to
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok build %s\n", r.Context().Value(acceptedKey{}))
	}))
	// A connection is served by the process that ran when it was
	// accepted.
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		b, _ := os.ReadFile(running.Load().(string))
		return context.WithValue(ctx, acceptedKey{}, strings.TrimSpace(string(b)))
	}
	srv.Start()
	defer srv.Close()
	// Both deploys pass: the timeout is long enough for a loaded machine.
	// A connection kept from before the restart would have the old
	// process answer every check, and fail the deploy of 2 within the
	// fixture's wait all the same.
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, `echo "$SWITCHMAN_BUILD" > running`),
		`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'
      timeout: 30s`, `url: `+srv.URL+`/health
      expect: "{build}"
      timeout: 10s`, 1)
	f := newFixtureFrom(t, yaml, &local.Transport{})
	running.Store(filepath.Join(f.app, "running"))
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
}

// TestHealthURLSlowerThanAnAttempt: a health URL that answers after an
// attempt's limit (5 s) fails its check however long health.timeout is,
// and the failure says so: it said "context deadline exceeded
// (Client.Timeout exceeded while awaiting headers)", naming no limit and
// no setting, after a health.timeout of 7s that seemed to allow it.
func TestHealthURLSlowerThanAnAttempt(t *testing.T) {
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hangs: the client gives up first
	}))
	defer host.Close()
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"),
		`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`,
		`url: `+host.URL+`/health`, 1)
	yaml = strings.Replace(yaml, healthyWithin, "timeout: 7s", 1)
	f := newFixtureFrom(t, yaml, &local.Transport{})
	f.build("1")
	rec, err := f.run(deploy.KindDeploy, "1")
	if err != nil {
		t.Fatal(err)
	}
	want := "/health: no answer within 5s, the limit of one attempt"
	if rec.Outcome == deploy.OutcomeSucceeded || !strings.Contains(rec.Error, want) {
		t.Errorf("got outcome %s (%s), want the deploy failed saying %q", rec.Outcome, rec.Error, want)
	}
}
