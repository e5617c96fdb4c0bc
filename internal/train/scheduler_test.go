package train

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRealSleep(t *testing.T) {
	s, err := New(Options{Config: testConfig(), Store: NewMemStore(), Runner: &fakeRunner{}, Notifier: &fakeNotifier{}, Audit: NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := s.sleep(t.Context(), begin.Add(20*time.Millisecond)); err != nil {
		t.Fatalf("sleep: %v", err)
	}
	if d := time.Since(begin); d < 20*time.Millisecond {
		t.Errorf("sleep of 20ms returned after %v", d)
	}
	if err := s.sleep(t.Context(), begin); err != nil {
		t.Errorf("sleep until the past: got %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.sleep(ctx, time.Now().Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep with a cancelled context: got %v, want context.Canceled", err)
	}
}

// TestRunStops: Run returns nil when its context ends, without trains too.
func TestRunStops(t *testing.T) {
	for _, trains := range []int{0, 1} {
		cfg := testConfig()
		if trains == 0 {
			cfg.Trains = nil
		}
		s, err := New(Options{Config: cfg, Store: NewMemStore(), Runner: &fakeRunner{}, Notifier: &fakeNotifier{}, Audit: NewMemStore(), Leader: func() bool { return false }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run with %d trains: got %v, want nil", trains, err)
		}
		cancel()
	}
}
