package embedded_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

func TestTrainsSurviveReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "switchman.db")
	s := openStore(t, path, nil)
	boarded := time.Date(2026, 6, 2, 11, 0, 0, 123, time.UTC)
	cars := []trainstore.Car{
		{App: "accounting", Build: "1338", Env: "production", User: "alice", Boarded: boarded},
		{App: "billing", Build: "77", Env: "production", User: "bob", Boarded: boarded.Add(time.Minute)},
	}
	for _, c := range cars {
		if _, err := s.Board(ctx, "daily", c, 0, nil); err != nil {
			t.Fatalf("Board: %v", err)
		}
	}
	dep := time.Date(2026, 6, 2, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	if err := s.MarkRun(ctx, "daily", trainstore.KindDeparture, dep); err != nil {
		t.Fatalf("MarkRun: %v", err)
	}

	s = reopen(t, s, path)
	got, err := s.Cars(ctx, "daily")
	if err != nil {
		t.Fatalf("Cars after reopen: %v", err)
	}
	if len(got) != len(cars) {
		t.Fatalf("Cars after reopen: got %+v, want %+v", got, cars)
	}
	for i := range cars {
		if got[i].App != cars[i].App || got[i].Build != cars[i].Build || got[i].User != cars[i].User || !got[i].Boarded.Equal(cars[i].Boarded) {
			t.Errorf("car %d after reopen: got %+v, want %+v", i, got[i], cars[i])
		}
	}
	last, err := s.LastRun(ctx, "daily", trainstore.KindDeparture)
	if err != nil || !last.Equal(dep) {
		t.Errorf("LastRun after reopen: got %v, %v, want %v", last, err, dep)
	}
}

// TestTrainsInAFileWithoutThem: the train buckets are made on first
// write, so reads of a file written before trains existed find nothing.
func TestTrainsInAFileWithoutThem(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, filepath.Join(t.TempDir(), "switchman.db"), nil)
	if cars, err := s.Cars(ctx, "daily"); err != nil || len(cars) != 0 {
		t.Errorf("Cars: got %+v, %v, want none", cars, err)
	}
	if at, err := s.LastRun(ctx, "daily", trainstore.KindBoarding); err != nil || !at.IsZero() {
		t.Errorf("LastRun: got %v, %v, want the zero time", at, err)
	}
	if _, err := s.Leave(ctx, "daily", "accounting", "", time.Time{}); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Leave: got %v, want an error wrapping deploy.ErrNotFound", err)
	}
}
