package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/ratelog"
	"github.com/switchman-bot/switchman/internal/server"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// start runs s on a free port of 127.0.0.1 until the test ends, and
// returns its base URL and a function that stops it and returns Run's error.
func start(t *testing.T, opt server.Options) (string, *server.Server, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opt.Listener = ln
	return startOn(t, opt)
}

// startOn is start on opt.Listener.
func startOn(t *testing.T, opt server.Options) (string, *server.Server, func() error) {
	t.Helper()
	ln := opt.Listener
	s := server.New(opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() error {
		cancel()
		stopped = true
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
			return nil
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return "http://" + ln.Addr().String(), s, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealth(t *testing.T) {
	var down atomic.Bool
	url, _, _ := start(t, server.Options{Health: func(ctx context.Context) error {
		if down.Load() {
			return errors.New("open /var/lib/switchman/state.db: timeout")
		}
		return nil
	}})
	if code, body := get(t, url+"/healthz"); code != 200 || strings.TrimSpace(body) != `{"status":"ok","store":"ok"}` {
		t.Errorf("healthz: got %d %s, want 200 ok", code, body)
	}
	down.Store(true)
	code, body := get(t, url+"/healthz")
	if code != 503 || strings.TrimSpace(body) != `{"status":"unavailable","store":"unreachable"}` {
		t.Errorf("healthz with the store down: got %d %s, want 503 unreachable", code, body)
	}
	if strings.Contains(body, "state.db") {
		t.Errorf("healthz: got %s, want no internal detail", body)
	}
}

// TestHealthStoreRefused: a store that answered and refused the check
// is named as such, with its reply's code, not as unreachable; a 503 all
// the same. Only a code of capital letters is shown: the endpoint answers
// anyone.
func TestHealthStoreRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		body string
	}{
		{"no answer", errors.New("dial tcp 127.0.0.1:6379: connection refused"), `{"status":"unavailable","store":"unreachable"}`},
		{"at maxmemory", fmt.Errorf("check writes: %w", &server.StoreError{Condition: "refuses_writes", Reply: "OOM", Err: errors.New("OOM command not allowed")}),
			`{"status":"unavailable","store":"refuses_writes","store_error":"OOM"}`},
		{"password refused", &server.StoreError{Condition: "refused", Reply: "NOAUTH", Err: errors.New("NOAUTH Authentication required.")},
			`{"status":"unavailable","store":"refused","store_error":"NOAUTH"}`},
		{"reply not a code", &server.StoreError{Condition: "refused", Reply: "ERR<script>", Err: errors.New("ERR<script>")},
			`{"status":"unavailable","store":"refused"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			url, _, _ := start(t, server.Options{
				Log:    slog.New(slog.NewTextHandler(&logs, nil)),
				Health: func(ctx context.Context) error { return tc.err },
			})
			if code, body := get(t, url+"/healthz"); code != 503 || strings.TrimSpace(body) != tc.body {
				t.Errorf("healthz: got %d %s, want 503 %s", code, body, tc.body)
			}
			if tc.name != "no answer" && strings.Contains(logs.String(), "unreachable") {
				t.Errorf("log: got\n%s\nwant no \"unreachable\" for a store that answered", logs.String())
			}
		})
	}
}

// TestHealthProberGaveUp: a prober that hangs up before a slow store
// answers (Kubernetes' probe timeout is 1 s by default, under the check's
// 2 s) cuts the check short; the log says so, not that the store is
// unreachable, which would send an operator after a network fault.
func TestHealthProberGaveUp(t *testing.T) {
	var logs syncbuf.Buffer
	url, _, _ := start(t, server.Options{
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Health: func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("read locks: %w", ctx.Err())
		},
	})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := client.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("healthz: got %d, want no answer before the prober's timeout", resp.StatusCode)
	}
	const line = "health check: the prober gave up before the state store answered"
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), line); {
		if time.Now().After(deadline) {
			t.Fatalf("log: got\n%s\nwant %q", logs.String(), line)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out := logs.String(); strings.Contains(out, "unreachable") {
		t.Errorf("log: got\n%s\nwant no \"unreachable\" for a check the prober cut short", out)
	}
}

// A replica whose clock keeps it from taking leases says why, and stays
// alive (200) for the runs it holds; a store down is said first.
func TestHealthClockSkew(t *testing.T) {
	const why = "this replica's clock is 40s behind the state store's (Redis TIME), more than the 7.5s allowed"
	for _, tc := range []struct {
		name      string
		storeDown bool
		skewed    bool
		code      int
		body      string
	}{
		{"in sync", false, false, 200, `{"status":"ok","store":"ok"}`},
		{"skewed", false, true, 200, `{"status":"clock_skew","store":"ok","clock":"` + why + `"}`},
		{"store down", true, true, 503, `{"status":"unavailable","store":"unreachable"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _, _ := start(t, server.Options{
				Health: func(ctx context.Context) error {
					if tc.storeDown {
						return errors.New("dial tcp 127.0.0.1:6379: connection refused")
					}
					return nil
				},
				Clock: func(ctx context.Context) error {
					if tc.skewed {
						return errs.New(errs.Unavailable, "%s", why)
					}
					return nil
				},
			})
			if code, body := get(t, url+"/healthz"); code != tc.code || strings.TrimSpace(body) != tc.body {
				t.Errorf("healthz: got %d %s, want %d %s", code, body, tc.code, tc.body)
			}
		})
	}
}

// TestHealthLogLimited: an orchestrator probing /healthz every few
// seconds through a store outage gets every answer, but the log gets one
// line per window, which says how many it stands for.
func TestHealthLogLimited(t *testing.T) {
	var logs syncbuf.Buffer
	limiter := &ratelog.Limiter{Every: time.Hour}
	url, _, _ := start(t, server.Options{
		Log:       slog.New(slog.NewTextHandler(&logs, nil)),
		HealthLog: limiter,
		Health:    func(ctx context.Context) error { return errors.New("dial tcp 127.0.0.1:6379: connection refused") },
	})
	const probes = 5
	for range probes {
		if code, _ := get(t, url+"/healthz"); code != 503 {
			t.Fatalf("healthz with the store down: got %d, want 503", code)
		}
	}
	const line = "health check: state store unreachable"
	if n := strings.Count(logs.String(), line); n != 1 {
		t.Fatalf("after %d failed probes in one window: %d log lines, want 1\n%s", probes, n, logs.String())
	}
	limiter.Flush()
	out := logs.String()
	if n := strings.Count(out, line); n != 2 || !strings.Contains(out, fmt.Sprintf("suppressed=%d", probes-2)) {
		t.Errorf("after the window: got\n%s\nwant the first line and the last, which counts the %d held back before it", out, probes-2)
	}
}

func TestMetricsAndHandle(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := server.NewMetrics(reg)
	url, s, _ := start(t, server.Options{Registry: reg, Metrics: m, MaxBody: 1024})
	s.Handle("POST /discord/interactions", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too big", http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "pong")
	}))
	post := func(body string) int {
		resp, err := http.Post(url+"/discord/interactions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(`{"type":1}`); code != 200 {
		t.Errorf("mounted handler: got %d, want 200", code)
	}
	if code := post(strings.Repeat("x", 2048)); code != 413 {
		t.Errorf("body over the limit: got %d, want 413", code)
	}
	// A route with a limit of its own takes bodies over the default.
	s.HandleLimit("POST /sentry/webhook", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too big", http.StatusRequestEntityTooLarge)
		}
	}), 4096)
	for _, tt := range []struct {
		size, want int
	}{{2048, 200}, {8192, 413}} {
		resp, err := http.Post(url+"/sentry/webhook", "application/json", strings.NewReader(strings.Repeat("x", tt.size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%d bytes to a route limited to 4096: got %d, want %d", tt.size, resp.StatusCode, tt.want)
		}
	}
	m.ObserveCommand("slack", 30*time.Millisecond)
	get(t, url+"/healthz")
	code, body := get(t, url+"/metrics")
	if code != 200 {
		t.Fatalf("metrics: got %d", code)
	}
	for _, want := range []string{
		`switchman_http_requests_total{code="200",handler="POST /discord/interactions"} 1`,
		`switchman_http_requests_total{code="413",handler="POST /discord/interactions"} 1`,
		`switchman_http_requests_total{code="200",handler="GET /healthz"} 1`,
		`switchman_command_latency_seconds_count{platform="slack"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics: want %q in\n%s", want, body)
		}
	}
	if code, _ := get(t, url+"/slack/commands"); code != 404 {
		t.Errorf("slack endpoints without Slack: got %d, want 404", code)
	}
}

func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var drained atomic.Bool
	url, s, stop := start(t, server.Options{Drain: func() { drained.Store(true) }})
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	}))
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	errc := make(chan error, 1)
	go func() { errc <- stop() }()
	// Shutdown waits for the request; a drain now would be too early.
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	if drained.Load() {
		t.Errorf("drain ran while a request was still in flight")
	}
	close(release)
	if body := <-got; body != "done" {
		t.Errorf("in-flight request: got %q, want it completed", body)
	}
	if err := <-errc; err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
	if !drained.Load() {
		t.Errorf("Run returned without draining")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Errorf("after shutdown: got an answer, want the port closed")
	}
}

func TestDrainIsBounded(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	_, _, stop := start(t, server.Options{DrainTimeout: 100 * time.Millisecond, Drain: func() { <-block }})
	// The drain never ends on its own: Run returns only if the drain
	// timeout ends the wait, whatever the pace; stop fails the test if
	// Run has not returned 30 s on.
	if err := stop(); err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
}

func TestListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	drained := false
	s := server.New(server.Options{Addr: ln.Addr().String(), Drain: func() { drained = true }})
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Errorf("Run on a busy port: got %v, want a listen error", err)
	}
	if !drained {
		t.Errorf("Run failed without draining what may have started")
	}
}

// TestMetricsListener: with a listener of their own, the metrics are
// served there only, away from the chat endpoints that Slack and Discord
// must reach; /healthz answers on both.
func TestMetricsListener(t *testing.T) {
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	url, _, stop := start(t, server.Options{Registry: reg, Metrics: server.NewMetrics(reg), MetricsListener: mln})
	metricsURL := "http://" + mln.Addr().String()
	for _, tt := range []struct {
		name, url string
		want      int
	}{
		{"metrics on the main listener", url + "/metrics", http.StatusNotFound},
		{"metrics on their own listener", metricsURL + "/metrics", http.StatusOK},
		{"healthz on the main listener", url + "/healthz", http.StatusOK},
		{"healthz on the metrics listener", metricsURL + "/healthz", http.StatusOK},
		{"nothing else on the metrics listener", metricsURL + "/slack/commands", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := get(t, tt.url); code != tt.want {
				t.Errorf("GET %s: got %d %s, want %d", tt.url, code, body, tt.want)
			}
		})
	}
	if _, body := get(t, metricsURL+"/metrics"); !strings.Contains(body, `switchman_http_requests_total{code="200",handler="GET /healthz"} 2`) {
		t.Errorf("metrics: got\n%s\nwant the /healthz of both listeners counted", body)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
	if _, err := http.Get(metricsURL + "/metrics"); err == nil {
		t.Errorf("after shutdown: the metrics listener still answers, want it closed")
	}
}

// TestMaxConns: past MaxConns open connections, idle ones included, a new
// connection is not taken (it waits in the kernel's backlog) until one
// closes, on the main listener and the metrics one together: each is an
// open file, and a flood of them must not take the files of the deploys.
func TestMaxConns(t *testing.T) {
	const max = 3
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url, _, _ := start(t, server.Options{MaxConns: max, MetricsListener: mln})
	addrs := []string{strings.TrimPrefix(url, "http://"), mln.Addr().String()}
	healthz := func(conn net.Conn, wait time.Duration) bool { return healthzWithin(t, conn, wait) }
	var held []net.Conn
	for i := range max {
		conn, err := net.Dial("tcp", addrs[i%2])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if !healthz(conn, 30*time.Second) {
			t.Fatalf("connection %d of %d: no answer", i+1, max)
		}
		held = append(held, conn) // kept open, idle
	}
	for _, addr := range addrs {
		extra, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// No answer can come while the others are open; the wait only
		// bounds the test.
		if healthz(extra, 300*time.Millisecond) {
			t.Fatalf("connection %d to %s: answered with %d others open, want it to wait", max+1, addr, max)
		}
		extra.Close()
	}
	held[0].Close()
	extra, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if !healthz(extra, 30*time.Second) {
		t.Errorf("once a connection closed: no answer, want one")
	}
}

// TestMetricsConnsKeptFromAFlood: connections to the listener, which
// anyone who reaches it can open, take only its share of MaxConns: the
// health probe and the scraper on the metrics listener are still answered
// while every connection the listener takes is held open.
func TestMetricsConnsKeptFromAFlood(t *testing.T) {
	const max = 8
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url, _, _ := start(t, server.Options{MaxConns: max, MetricsListener: mln})
	healthz := func(conn net.Conn, wait time.Duration) bool { return healthzWithin(t, conn, wait) }
	// The flood: connections to the listener, each held open once
	// answered, until one is not (the wait only bounds the test), or as
	// many as MaxConns.
	held := 0
	for range max {
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if !healthz(conn, 300*time.Millisecond) {
			break
		}
		held++
	}
	if held == 0 || held >= max {
		t.Fatalf("connections the listener took: got %d, want fewer than %d and at least one", held, max)
	}
	probe, err := net.Dial("tcp", mln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if !healthz(probe, 30*time.Second) {
		t.Errorf("/healthz on the metrics listener with %d connections held on the listener: no answer, want one", held)
	}
}

// TestUnmatchedRequestsCounted: requests no route takes (a Slack app sending
// to a path the bot does not serve, a method the path is not served for)
// are counted too, under one handler label, not by the path their sender
// chose.
func TestUnmatchedRequestsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	url, _, _ := start(t, server.Options{Registry: reg, Metrics: server.NewMetrics(reg)})
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/slack/commands", 404},
		{"GET", "/no/such/path?token=x", 404},
		{"POST", "/healthz", 405},
	} {
		req, err := http.NewRequest(tt.method, url+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
	_, body := get(t, url+"/metrics")
	for _, want := range []string{
		`switchman_http_requests_total{code="404",handler="unmatched"} 2`,
		`switchman_http_requests_total{code="405",handler="unmatched"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics: want %q in\n%s", want, body)
		}
	}
	if strings.Contains(body, "no/such/path") {
		t.Error("metrics name the path of an unmatched request; want one label for all")
	}
}

// TestRedirectedRequestsCounted: a path the router answers with a
// redirect to its clean form (a Slack app's request URL with a double
// slash, as a base URL ending in / gives, which a sender may not follow)
// is counted as unmatched, not left out of the metrics altogether; the
// request that follows the redirect is counted by its route.
func TestRedirectedRequestsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	url, s, _ := start(t, server.Options{Registry: reg, Metrics: server.NewMetrics(reg)})
	s.Handle("POST /slack/commands", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"//slack/commands", "/slack/./commands", "/slack//commands"} {
		resp, err := noFollow.Post(url+path, "application/x-www-form-urlencoded", strings.NewReader("text=x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect {
			t.Fatalf("POST %s: got %d, want %d", path, resp.StatusCode, http.StatusTemporaryRedirect)
		}
	}
	resp, err := http.Post(url+"//slack/commands", "application/x-www-form-urlencoded", strings.NewReader("text=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, body := get(t, url+"/metrics")
	for _, want := range []string{
		`switchman_http_requests_total{code="307",handler="unmatched"} 4`,
		`switchman_http_requests_total{code="200",handler="POST /slack/commands"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics: want %q in\n%s", want, body)
		}
	}
}

// TestServedWhileDraining: during the drain the chat routes refuse new
// requests, while /metrics and /healthz, on whichever listener serves
// them, still answer (a deploy that ends during the drain is scraped);
// /healthz says the bot is draining with a 200, so that a liveness probe
// does not kill it mid-deploy. The listeners close once the drain ends.
func TestServedWhileDraining(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprintf("metrics listener %t", own), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			draining, release := make(chan struct{}), make(chan struct{})
			opt := server.Options{Registry: reg, Metrics: server.NewMetrics(reg),
				Drain: func() { close(draining); <-release }}
			if own {
				mln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				opt.MetricsListener = mln
			}
			url, s, stop := start(t, opt)
			metricsURL := url
			if own {
				metricsURL = "http://" + opt.MetricsListener.Addr().String()
			}
			s.Handle("POST /slack/commands", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Errorf("a chat request was handled during the drain")
			}))
			errc := make(chan error, 1)
			go func() { errc <- stop() }()
			<-draining
			for _, tt := range []struct {
				name, method, url string
				want              int
				body              string
			}{
				{"healthz", "GET", url + "/healthz", http.StatusOK, `{"status":"draining","store":"unchecked"}`},
				{"healthz on the metrics listener", "GET", metricsURL + "/healthz", http.StatusOK, `{"status":"draining","store":"unchecked"}`},
				{"metrics", "GET", metricsURL + "/metrics", http.StatusOK, `switchman_http_requests_total{code="200",handler="GET /healthz"} 2`},
				{"chat route", "POST", url + "/slack/commands", http.StatusServiceUnavailable, "stopping"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					req, err := http.NewRequest(tt.method, tt.url, nil)
					if err != nil {
						t.Fatal(err)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatalf("%s %s during the drain: got %v, want %d", tt.method, tt.url, err, tt.want)
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.body) {
						t.Errorf("%s %s during the drain: got %d %s, want %d with %s", tt.method, tt.url, resp.StatusCode, b, tt.want, tt.body)
					}
				})
			}
			close(release)
			if err := <-errc; err != nil {
				t.Errorf("Run: got %v, want nil", err)
			}
			for _, u := range []string{url + "/healthz", metricsURL + "/metrics"} {
				if _, err := http.Get(u); err == nil {
					t.Errorf("GET %s after the drain: got an answer, want the port closed", u)
				}
			}
		})
	}
}

// healthzWithin asks for /healthz on conn and reports whether an OK came
// within wait.
func healthzWithin(t *testing.T, conn net.Conn, wait time.Duration) bool {
	t.Helper()
	conn.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
