package train

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestDepartureLeaseStoreReset: Redis loses its data (a FLUSHALL, a
// restart without persistence) while a train departs. Its departure lease
// went with it, and the store refuses every call until the bot restarts,
// so no renewal can bring it back: the renewal that finds the reset marks
// the lease lost, and the cars not shipped yet stay, saying why. It was
// only logged, and the departure went on shipping cars until the lease ran
// out by this replica's clock (held still here, as the reset came within
// the lease's TTL).
func TestDepartureLeaseStoreReset(t *testing.T) {
	srv := redisserver.Start(t)
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	s := &Scheduler{leases: st, leaseTTL: 300 * time.Millisecond, leaseClock: func() time.Time { return at }, log: slog.New(slog.DiscardHandler)}
	d, err := s.claim(t.Context(), "daily")
	if err != nil {
		t.Fatal(err)
	}
	defer d.release()
	if !d.held() {
		t.Fatal("held: false just after it was taken")
	}
	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	if err := c.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.held() {
		if time.Now().After(deadline) {
			t.Fatal("held: still true 10 s after the store was reset, renewed every 100ms")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if why := d.whyNotHeld(); !strings.Contains(why, "the state store was reset") || strings.Contains(why, "another may depart it") {
		t.Errorf("why the cars stay: got %q, want the store reset, and no other replica said to depart them", why)
	}
}
