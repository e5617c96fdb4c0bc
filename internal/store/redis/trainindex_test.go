package redis

import (
	"slices"
	"strings"
	"testing"
	"time"

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
	if err := s.rdb.RPush(ctx, s.carsKey("nightly"), entry).Err(); err != nil {
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
	if err := s.rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	assertNames("boarded and put back since", "daily", "nightly", "weekly")
	stats, err := s.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stats, "cmdstat_scan:") {
		t.Errorf("a listing with the index built scanned the keys:\n%s", stats)
	}
	for _, tr := range []string{"nightly", "weekly"} {
		if _, err := s.Leave(ctx, tr, "web"); err != nil {
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
		{"taken off by an older writer", func() error { return s.rdb.LRem(ctx, s.carsKey("nightly"), 1, entry).Err() }, nil},
		{"boarded again by an older writer", func() error { return s.rdb.RPush(ctx, s.carsKey("nightly"), entry).Err() }, []string{"nightly"}},
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
