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
