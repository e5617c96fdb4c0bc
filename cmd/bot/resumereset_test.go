package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestResumeWatchesFindsTheStoreReset: Redis loses its data under a
// replica. Its store refuses every call until the bot restarts, so looking
// for error watches to resume again every round only warned, each time,
// for as long as the replica ran. It now says once that the store was
// reset and stops looking.
func TestResumeWatchesFindsTheStoreReset(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(p, []byte(alertYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	srv := redisserver.Start(t)
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	if err := c.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	var logged syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	sys := &system{cfg: cfg, log: log, watcher: postdeploy.New(postdeploy.Options{
		Config: cfg, Watches: st, Leases: st, History: st, LeaseTTL: time.Second, Log: log,
	})}
	const every = 5 * time.Millisecond
	// A generous bound, not a few rounds' worth: on a loaded machine the
	// first round alone may outlast those, and end with the context
	// instead of finding the reset. Once found, it is not asked again.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sys.resumeWatches(ctx, every)
	if ctx.Err() != nil {
		t.Errorf("resumeWatches went on until its context ended, want it to return once it found the store reset")
	}
	const want = "the state store was reset: this replica resumes no error watches until the bot restarts"
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], want) {
		t.Errorf("log: got %d lines, the first %q; want one ERROR saying %q", len(lines), lines[0], want)
	}
}
