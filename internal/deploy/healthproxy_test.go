package deploy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/switchman-bot/switchman/internal/testenv/ownprocess"
)

// proxyChildEnv marks the process TestHealthProbeGoesDirect runs itself
// in: net/http reads the proxy variables once per process.
const proxyChildEnv = "SWITCHMAN_TEST_HEALTH_PROXY_CHILD"

// TestHealthProbeGoesDirect: with HTTP_PROXY set in the bot's environment
// (as it may be, for the bot to reach Slack), an HTTP health check still
// asks the host itself. Through the proxy, the proxy's answer (here a
// 200) would pass for the host's (a 503). The host has a name, which the
// child's dialer takes to the host's loopback port: net/http never
// proxies "localhost" or a loopback address.
func TestHealthProbeGoesDirect(t *testing.T) {
	if !ownprocess.Child(proxyChildEnv) {
		var proxied atomic.Int32
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			proxied.Add(1)
			fmt.Fprintln(w, "ok, from the proxy")
		}))
		defer proxy.Close()
		host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}))
		defer host.Close()
		u, err := url.Parse(host.URL)
		if err != nil {
			t.Fatal(err)
		}
		ownprocess.Run(t, proxyChildEnv, "SWITCHMAN_TEST_HEALTH_PORT="+u.Port(),
			"HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
		if n := proxied.Load(); n != 0 {
			t.Errorf("the proxy got %d requests, want none", n)
		}
		return
	}

	e := NewEngine(Options{})
	tr := e.http.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h, port, _ := net.SplitHostPort(addr); h == "web1.example.test" {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return dial(ctx, network, addr)
	}
	resp, err := e.http.Get("http://web1.example.test:" + os.Getenv("SWITCHMAN_TEST_HEALTH_PORT") + "/health")
	if err != nil {
		t.Fatalf("health probe: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("health probe: got %d %q, want the host's own 503", resp.StatusCode, body)
	}
}
