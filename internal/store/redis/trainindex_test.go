package redis

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// TestTrainsListedFromTheIndex: Trains reads the trains with cars aboard
// from an index the writes keep, in one round trip, rather than scanning
// every key at each listing, as it used to. A store written before the
// index existed (a list with no index entry) is listed all the same: the
// first listing builds the index.
func TestTrainsListedFromTheIndex(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "idx:")
	ctx := t.Context()
	car := func(app string) trainstore.Car {
		return trainstore.Car{App: app, Build: "7", Env: "prod", User: "ana", Boarded: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	}
	// As a version before the index wrote it.
	entry, err := carEntry(car("web"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client().RPush(ctx, s.carsKey("nightly"), entry).Err(); err != nil {
		t.Fatal(err)
	}
	assertNames := func(step string, want ...string) {
		t.Helper()
		got, err := s.Trains(ctx)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: Trains got %q, %v; want %q", step, got, err, want)
		}
	}
	assertNames("written before the index", "nightly")
	if _, err := s.Board(ctx, "daily", car("api"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ReturnCars(ctx, "weekly", []trainstore.Car{car("web")}); err != nil {
		t.Fatal(err)
	}
	if err := s.client().ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	assertNames("boarded and put back since", "daily", "nightly", "weekly")
	stats, err := s.client().Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stats, "cmdstat_scan:") {
		t.Errorf("a listing with the index built scanned the keys:\n%s", stats)
	}
	for _, tr := range []string{"nightly", "weekly"} {
		if _, err := s.Leave(ctx, tr, "web", "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	assertNames("the last cars taken off", "daily")
}

// TestTrainsIndexKeepsTrainsAnOlderWriterEmptied: a train whose last car
// a writer that does not know the index (an older replica during a
// rolling upgrade) takes off stays in the index, as the upgrade notes
// say, though a listing meanwhile finds it empty: boarded again by that
// writer, it is listed. The listing used to drop the name it found empty,
// and the train boarded again was left out of every listing until a newer
// writer wrote it.
func TestTrainsIndexKeepsTrainsAnOlderWriterEmptied(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "idx:")
	ctx := t.Context()
	c := trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	if _, err := s.Board(ctx, "nightly", c, 0, nil); err != nil {
		t.Fatal(err)
	}
	entry, err := carEntry(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name  string
		write func() error
		want  []string
	}{
		{"boarded", func() error { return nil }, []string{"nightly"}},
		{"taken off by an older writer", func() error { return s.client().LRem(ctx, s.carsKey("nightly"), 1, entry).Err() }, nil},
		{"boarded again by an older writer", func() error { return s.client().RPush(ctx, s.carsKey("nightly"), entry).Err() }, []string{"nightly"}},
	} {
		if err := step.write(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got, err := s.Trains(ctx)
		if err != nil || !slices.Equal(got, step.want) {
			t.Errorf("%s: Trains got %q, %v; want %q", step.name, got, err, step.want)
		}
	}
}

// TestTrainsIndexBuiltAsAnOlderWriterBoards: a train an older writer
// boards first while the index is being built, after the scan went past
// where its key lands, is listed by that listing and those after it. It
// used to be left out of the index the listing then marked built, and of
// every listing until a newer writer wrote the train.
func TestTrainsIndexBuiltAsAnOlderWriterBoards(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "idx:")
	ctx := t.Context()
	c := trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	entry, err := carEntry(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client().RPush(ctx, s.carsKey("early"), entry).Err(); err != nil {
		t.Fatal(err)
	}
	h := &afterScan{do: func(ctx context.Context) error {
		return s.client().RPush(ctx, s.carsKey("late"), entry).Err()
	}}
	s.eachClient(func(c *goredis.Client) { c.AddHook(h) })
	for _, listing := range []string{"the listing that builds the index", "the next listing"} {
		got, err := s.Trains(ctx)
		if want := []string{"early", "late"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: Trains got %q, %v; want %q", listing, got, err, want)
		}
	}
	if h.err != nil || !h.done {
		t.Fatalf("the older writer's boarding: done %v, %v; want it done", h.done, h.err)
	}
}

// afterScan runs do once, after the first SCAN that ends its walk (cursor
// 0): a write the walk did not see.
type afterScan struct {
	do   func(ctx context.Context) error
	done bool
	err  error
}

func (h *afterScan) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *afterScan) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if scan, ok := cmd.(*goredis.ScanCmd); ok && err == nil && !h.done {
			if _, cursor := scan.Val(); cursor == 0 {
				h.done = true
				h.err = h.do(ctx)
			}
		}
		return err
	}
}

func (h *afterScan) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// TestTrainsIndexBuiltAgainAfterItsTTL: a train an older writer boards
// first after the index was built is listed once the marker that the
// index is built expires, by the listing that builds it again. The marker
// used to last for good, and the train was left out of every listing
// until a newer writer wrote it.
func TestTrainsIndexBuiltAgainAfterItsTTL(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "idx:")
	s.indexTTL = 200 * time.Millisecond
	ctx := t.Context()
	c := trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	if _, err := s.Board(ctx, "daily", c, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Trains(ctx); err != nil || !slices.Equal(got, []string{"daily"}) {
		t.Fatalf("the listing that builds the index: Trains got %q, %v; want [daily]", got, err)
	}
	entry, err := carEntry(c)
	if err != nil {
		t.Fatal(err)
	}
	// As an older writer boards it: the list, no index entry.
	if err := s.client().RPush(ctx, s.carsKey("x"), entry).Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"daily", "x"}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, err = s.Trains(ctx); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, want) {
			return
		}
	}
	t.Errorf("Trains got %q until the deadline; want %q once the marker expired", got, want)
}

// TestTrainsMarkerWithoutExpiry: a marker set without expiry (by a
// version that kept it for good) is not taken as built: the listing
// builds the index again, and sets the marker to expire.
func TestTrainsMarkerWithoutExpiry(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "idx:")
	ctx := t.Context()
	c := trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	entry, err := carEntry(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client().RPush(ctx, s.carsKey("x"), entry).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.client().Set(ctx, s.indexBuiltKey(), "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Trains(ctx); err != nil || !slices.Equal(got, []string{"x"}) {
		t.Errorf("Trains got %q, %v; want [x]", got, err)
	}
	ttl, err := s.client().PTTL(ctx, s.indexBuiltKey()).Result()
	if err != nil || ttl <= 0 || ttl > trainIndexTTL {
		t.Errorf("the marker's ttl: got %v, %v; want in (0, %v]", ttl, err, trainIndexTTL)
	}
}

// TestTrainsIndexLostWithoutItsMarker: an index lost while its marker
// stays (evicted under an allkeys-* maxmemory-policy, deleted by hand) is
// built again by the next listing, which lists every train. The listing
// used to find no train, or only those boarded since, until the marker
// went.
func TestTrainsIndexLostWithoutItsMarker(t *testing.T) {
	c := trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name  string
		after func(ctx context.Context, s *Store) error
		want  []string
	}{
		{"index deleted", func(context.Context, *Store) error { return nil }, []string{"nightly"}},
		{"index deleted, then a train boarded", func(ctx context.Context, s *Store) error {
			_, err := s.Board(ctx, "daily", c, 0, nil)
			return err
		}, []string{"daily", "nightly"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			s := openPrefix(t, srv, "idx:")
			ctx := t.Context()
			if _, err := s.Board(ctx, "nightly", c, 0, nil); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Trains(ctx); err != nil || !slices.Equal(got, []string{"nightly"}) {
				t.Fatalf("the listing that builds the index: Trains got %q, %v; want [nightly]", got, err)
			}
			if err := s.client().Del(ctx, s.indexKey()).Err(); err != nil {
				t.Fatal(err)
			}
			if err := tc.after(ctx, s); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Trains(ctx); err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Trains got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestTrainsMarkerMadePermanentOverABuiltIndex: an older replica that
// builds the index sets its marker without expiry, and may do so over an
// index this version built (one holding ""), when the marker this
// version set expired. A train that replica boards first is listed all
// the same: the listing takes a marker without expiry for a missing one
// and builds the index again, and the marker expires again from then on.
func TestTrainsMarkerMadePermanentOverABuiltIndex(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "idx:")
	ctx := t.Context()
	c := trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	if _, err := s.Board(ctx, "daily", c, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Trains(ctx); err != nil || !slices.Equal(got, []string{"daily"}) {
		t.Fatalf("the listing that builds the index: Trains got %q, %v; want [daily]", got, err)
	}
	// As the older replica boards a train and builds the index.
	entry, err := carEntry(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client().RPush(ctx, s.carsKey("x"), entry).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.client().Set(ctx, s.indexBuiltKey(), "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Trains(ctx); err != nil || !slices.Equal(got, []string{"daily", "x"}) {
		t.Errorf("Trains got %q, %v; want [daily x]", got, err)
	}
	ttl, err := s.client().PTTL(ctx, s.indexBuiltKey()).Result()
	if err != nil || ttl <= 0 || ttl > trainIndexTTL {
		t.Errorf("the marker's ttl: got %v, %v; want in (0, %v]", ttl, err, trainIndexTTL)
	}
}
