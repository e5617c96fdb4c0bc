package postdeploy_test

import (
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

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
	fs := newFakeSentry(t)
	dir := t.TempDir()
	cfg, _ := durableFixture(t, dir, "embedded", fs.srv.URL, "10m")
	srv := redisserver.Start(t)
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t0 := time.Now().In(watchZone).Truncate(time.Minute)
	clk := testclock.New(t0.Add(-30 * time.Minute))
	sl := newStoppingSleep(clk)
	// Parked at its third interval until the watch is ended: a long
	// interval, which only the bot stopping or the watch's lease ends.
	sl.wake = make(chan struct{})
	a := newBot(t, cfg, st, fs.srv.URL, "replica-a", clk, sl.sleep)
	watchScene(t, fs, a, clk, sl, t0)

	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	if err := c.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
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
