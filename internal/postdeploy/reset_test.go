package postdeploy_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

// TestWatchStopsWhenTheStoreIsReset: Redis loses its data (a FLUSHALL, a
// restart without persistence) while a bot watches a deploy's errors. The
// watch's lease and its saved state went with it, and the store refuses
// every call until the bot restarts. A renewal that found the reset was
// only logged, and the watch went on reading Sentry, and could roll back,
// until its lease ran out by its own clock at its next read; its next
// save was said in the channel as one that "goes on in this bot". The
// renewal that finds the reset now stops the watch at once, as a lost
// lease does, and the channel is told that nothing watches any more: no
// bot goes on with a watch saved in the lost data.
func TestWatchStopsWhenTheStoreIsReset(t *testing.T) {
	fs, cfg, srv, st, t0, clk := watchOnRedis(t)
	sl := newStoppingSleep(clk)
	// Parked at its third interval until the watch is ended: a long
	// interval, which only the bot stopping or the watch's lease ends.
	sl.wake = make(chan struct{})
	a := newBot(t, cfg, st, fs.srv.URL, "replica-a", clk, sl.sleep)
	watchScene(t, fs, a, clk, sl, t0)

	flushAll(t, srv)
	readsBefore := fs.readCount()
	ended := make(chan struct{})
	go func() {
		a.w.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatalf("the watch still ran 30 s after the store was reset, with a lease TTL of %s", watchLeaseTTL)
	}
	if reads := fs.readsVia(fs.srv.URL, readsBefore); len(reads) != 0 {
		t.Errorf("the watch read Sentry after the store was reset: %v", reads)
	}
	const want = "Error watch of web 2 on production stopped: the state store was reset"
	if got := a.out.titles(); strings.Count(got, want) != 1 || strings.Contains(got, "could not save its progress") {
		t.Errorf("posts: want %q once, and no save said to go on in this bot:\n%s", want, got)
	}
}

// TestWatchThatDidNotStartForAStoreResetSaysSo: Redis loses its data while
// the watch of deploy 2, saved, waits for Sentry to register the deploy,
// before it watches anything. The lease and the saved watch went with the
// data, so no bot goes on with it; the bot that found the reset said
// nothing, as if another bot had taken the watch over, and the channel
// believed the deploy watched. It now says the watch did not start, and
// why.
func TestWatchThatDidNotStartForAStoreResetSaysSo(t *testing.T) {
	fs, cfg, srv, st, t0, clk := watchOnRedis(t)
	a := newBot(t, cfg, st, fs.srv.URL, "replica-a", clk, clk.Sleep)
	a.deploy(t, "1")
	a.eng.Wait()
	a.w.Wait()

	s := &stall{what: "deploy", via: fs.srv.URL, held: make(chan struct{}), open: make(chan struct{})}
	fs.mu.Lock()
	fs.stall = s
	fs.mu.Unlock()
	var opened sync.Once
	open := func() { opened.Do(func() { close(s.open) }) }
	t.Cleanup(open) // before the watcher's Close, which waits for it
	clk.Set(t0)
	a.deploy(t, "2")
	a.eng.Wait()
	select {
	case <-s.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the registration of deploy 2 never reached Sentry")
	}
	saved, err := st.Watches(t.Context())
	if err != nil || len(saved) != 1 {
		t.Fatalf("saved watches while registering: got %+v, %v; want deploy 2's", saved, err)
	}
	id := saved[0].ID

	flushAll(t, srv)
	readsBefore := fs.readCount()
	open()
	ended := make(chan struct{})
	go func() {
		a.w.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the watch still ran 30 s after the store was reset")
	}
	if reads := fs.readsVia(fs.srv.URL, readsBefore); len(reads) != 0 {
		t.Errorf("the watch read Sentry after the store was reset: %v", reads)
	}
	got := a.out.titles()
	const want = "Error watch of web 2 on production did not start: the state store was reset | deploy "
	if strings.Count(got, want+id) != 1 {
		t.Errorf("posts: want %q once:\n%s", want+id, got)
	}
}

// watchOnRedis returns what a watch on Redis needs: a fake Sentry, a
// config for it, a Redis server and the store on it, the minute the
// watch starts, and a clock half an hour before it.
func watchOnRedis(t *testing.T) (*fakeSentry, *config.Config, *redisserver.Server, *redis.Store, time.Time, *testclock.Clock) {
	t.Helper()
	fs := newFakeSentry(t)
	cfg, _ := durableFixture(t, t.TempDir(), "embedded", fs.srv.URL, "10m")
	srv := redisserver.Start(t)
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t0 := time.Now().In(watchZone).Truncate(time.Minute)
	return fs, cfg, srv, st, t0, testclock.New(t0.Add(-30 * time.Minute))
}

// flushAll empties srv as a restart without persistence would.
func flushAll(t *testing.T, srv *redisserver.Server) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer c.Close()
	if err := c.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
}
