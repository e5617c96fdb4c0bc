package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchman-bot/switchman/internal/server"
)

// prober is a health probe that gives up after 1 s, as Kubernetes' does.
var prober = &http.Client{Timeout: time.Second}

func probe(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := prober.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// takenOver waits until Run has taken the Early's listeners over, which
// it does in its own goroutine, public listener first: a probe before
// then gets the early answer, on the metrics listener even after a chat
// request on the other was served.
func takenOver(t *testing.T, s *server.Server) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.Addr() == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not take the listeners over within 10s")
		}
	}
}

// post sends a POST to url and returns its answer on the channel, or
// the error as the body with code 0.
func post(url string) <-chan [2]string {
	got := make(chan [2]string, 1)
	go func() {
		resp, err := http.Post(url, "text/plain", strings.NewReader("x"))
		if err != nil {
			got <- [2]string{"0", err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- [2]string{resp.Status, string(b)}
	}()
	return got
}

// TestEarlyAnswersWhileStarting: from the moment the listeners are bound,
// before the bot has started, /healthz answers at once that it is
// starting (503: not ready), on both listeners, and /metrics 503; a chat
// request waits and is served once the Server takes the listeners over,
// which then answers /healthz as ever.
func TestEarlyAnswersWhileStarting(t *testing.T) {
	ln, mln := listen(t), listen(t)
	e := server.ServeEarly(server.EarlyOptions{Listener: ln, MetricsListener: mln, MaxConns: 64})
	t.Cleanup(e.Close)
	base, metricsBase := "http://"+ln.Addr().String(), "http://"+mln.Addr().String()
	for _, url := range []string{base + "/healthz", metricsBase + "/healthz"} {
		code, body, h := probe(t, url)
		if want := `{"status":"starting","store":"unchecked"}`; code != http.StatusServiceUnavailable || strings.TrimSpace(body) != want {
			t.Errorf("%s while starting: got %d %s, want 503 %s", url, code, body, want)
		}
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s while starting: got Cache-Control %q, want no-store", url, got)
		}
	}
	if code, body, _ := probe(t, metricsBase+"/metrics"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Errorf("/metrics while starting: got %d %s, want 503 starting", code, body)
	}

	waiting := post(base + "/chat")
	select {
	case got := <-waiting:
		t.Fatalf("a chat request while starting: got %v, want it to wait for the bot", got)
	case <-time.After(200 * time.Millisecond):
	}

	reg := prometheus.NewRegistry()
	s := server.New(server.Options{Early: e, MetricsListener: mln, Registry: reg, Health: func(context.Context) error { return nil }})
	s.Handle("POST /chat", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ran") }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case got := <-waiting:
		if got != [2]string{"200 OK", "ran"} {
			t.Errorf("the chat request that waited: got %v, want 200 ran", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the chat request that waited was not served once the bot started")
	}
	takenOver(t, s)
	for _, url := range []string{base + "/healthz", metricsBase + "/healthz"} {
		if code, body, _ := probe(t, url); code != http.StatusOK || strings.TrimSpace(body) != `{"status":"ok","store":"ok"}` {
			t.Errorf("%s once started: got %d %s, want 200 ok", url, code, body)
		}
	}
	if code, _, _ := probe(t, metricsBase+"/metrics"); code != http.StatusOK {
		t.Errorf("/metrics once started: got %d, want 200", code)
	}
	if got := s.Addr(); got == nil || got.String() != ln.Addr().String() {
		t.Errorf("Addr: got %v, want %s", got, ln.Addr())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v, want nil after a shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener still takes connections after Run returned")
	}
}

// TestEarlyClosedWhenTheStartFails: a bot that does not start tells the
// requests that waited for it that nothing ran, and closes its listeners.
func TestEarlyClosedWhenTheStartFails(t *testing.T) {
	ln := listen(t)
	e := server.ServeEarly(server.EarlyOptions{Listener: ln})
	base := "http://" + ln.Addr().String()
	waiting := post(base + "/chat")
	select {
	case got := <-waiting:
		t.Fatalf("a chat request while starting: got %v, want it to wait for the bot", got)
	case <-time.After(200 * time.Millisecond):
	}
	e.Close()
	select {
	case got := <-waiting:
		if got[0] != "503 Service Unavailable" || !strings.Contains(got[1], "did not start") {
			t.Errorf("the chat request that waited: got %v, want 503 did not start", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the chat request that waited was not answered once the start failed")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener still takes connections after Close")
	}
}

// TestEarlyAnswersCounted: the answers given while the bot starts (503
// "starting" of /healthz and /metrics) are counted in
// switchman_http_requests_total as the Server's own, under the route that
// serves the path once it runs, and show on its first scrape.
func TestEarlyAnswersCounted(t *testing.T) {
	ln, mln := listen(t), listen(t)
	e := server.ServeEarly(server.EarlyOptions{Listener: ln, MetricsListener: mln})
	t.Cleanup(e.Close)
	base, metricsBase := "http://"+ln.Addr().String(), "http://"+mln.Addr().String()
	for _, url := range []string{base + "/healthz", metricsBase + "/healthz", metricsBase + "/healthz", metricsBase + "/metrics"} {
		if code, body, _ := probe(t, url); code != http.StatusServiceUnavailable {
			t.Fatalf("%s while starting: got %d %s, want 503", url, code, body)
		}
	}
	reg := prometheus.NewRegistry()
	s := server.New(server.Options{Early: e, MetricsListener: mln, Registry: reg, Metrics: server.NewMetrics(reg)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// A scrape before the takeover is the early 503, which would also add
	// to the count checked.
	takenOver(t, s)
	code, body, _ := probe(t, metricsBase+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics once started: got %d, want 200", code)
	}
	for _, want := range []string{
		`switchman_http_requests_total{code="503",handler="GET /healthz"} 3`,
		`switchman_http_requests_total{code="503",handler="GET /metrics"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}
