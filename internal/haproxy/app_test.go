package haproxy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/ports"
)

// The rolling-restart tests run a small web app under supervisord. The app
// is this test binary itself: started with appAddrEnv set, TestMain serves
// the app instead of running tests, so there is nothing to build.
const (
	appAddrEnv = "SWITCHMAN_TESTAPP_ADDR"
	appNameEnv = "SWITCHMAN_TESTAPP_NAME"
)

// appWork is how long the app takes to answer GET /, so that a restart
// always meets requests in flight.
const appWork = 2 * time.Millisecond

func TestMain(m *testing.M) {
	if addr := os.Getenv(appAddrEnv); addr != "" {
		if err := serveApp(addr, os.Getenv(appNameEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "testapp:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveApp serves the test app on addr until SIGTERM, then shuts down
// gracefully: it stops accepting, lets requests in flight finish (at most
// 9 s, under supervisord's stopwaitsecs of 10), closes idle keep-alive
// connections and returns.
//
//	GET /health   200 "ok"
//	GET /         200 "hello from NAME (pid N)" after appWork
//	GET /slow?d=  200 after d (a Go duration, default 10s)
func serveApp(addr, name string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(appWork)
		fmt.Fprintf(w, "hello from %s (pid %d)\n", name, os.Getpid())
	})
	mux.HandleFunc("GET /slow", slowHandler(nil))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// slowHandler answers 200 once release is closed, or after ?d= (default
// 10s) when release is nil, or when the client goes away.
func slowHandler(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := 10 * time.Second
		if v := r.URL.Query().Get("d"); v != "" {
			var err error
			if d, err = time.ParseDuration(v); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		if release != nil {
			timer.Stop()
		}
		select {
		case <-release:
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintln(w, "slow done")
	}
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := ports.Addr()
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return addr
}
