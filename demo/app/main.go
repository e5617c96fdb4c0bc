// Command demo-app is the tiny web app that Switchman deploys in its demo.
//
// It serves its build id, read at start-up from the file BUILD next to its
// executable:
//
//	GET /        200 "hello from demo build <BUILD>"
//	GET /health  200 "ok build=<BUILD>", or 500 "broken build=<BUILD>" when a
//	             file named BROKEN sits next to BUILD (the demo's bad build,
//	             which Switchman reverts automatically)
//
// It listens on -addr (default: $DEMO_ADDR, else 127.0.0.1:8099) and shuts
// down gracefully on SIGTERM or SIGINT. It writes no files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const defaultAddr = "127.0.0.1:8099"

// shutdownTimeout bounds how long in-flight requests may finish after
// SIGTERM; restart scripts wait a little longer before they SIGKILL.
const shutdownTimeout = 3 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-app:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts the server down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	addr := defaultAddr
	if v := getenv("DEMO_ADDR"); v != "" {
		addr = v
	}
	fs := flag.NewFlagSet("demo-app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&addr, "addr", addr, "listen address, host:port (default: $DEMO_ADDR, else "+defaultAddr+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// The process is started as current/demo-app; resolving the link once,
	// here, pins it to the release it was started from even after
	// `current` moves on to the next deploy.
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find executable: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return fmt.Errorf("resolve executable: %w", err)
	}
	dir := filepath.Dir(exe)
	build, err := readBuild(dir)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           newHandler(build, dir),
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Info("serving", "addr", ln.Addr().String(), "build", build, "pid", os.Getpid())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "build", build)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// readBuild returns the build id in dir/BUILD.
func readBuild(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "BUILD"))
	if err != nil {
		return "", fmt.Errorf("read build id: %w", err)
	}
	build := strings.TrimSpace(string(b))
	if build == "" {
		return "", fmt.Errorf("read build id: %s is empty", filepath.Join(dir, "BUILD"))
	}
	return build, nil
}

// newHandler serves build. dir is looked at on every health check, so
// creating or removing dir/BROKEN takes effect without a restart.
func newHandler(build, dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello from demo build %s\n", build)
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if _, err := os.Stat(filepath.Join(dir, "BROKEN")); err == nil {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "broken build=%s\n", build)
			return
		}
		fmt.Fprintf(w, "ok build=%s\n", build)
	})
	return mux
}
