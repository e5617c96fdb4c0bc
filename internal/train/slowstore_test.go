package train_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/train"
)

// stuckStore is a store whose record of train's departure sent off early
// waits until release is closed, once it has closed entered: a store slow
// to answer.
type stuckStore struct {
	*embedded.Store
	train            string
	entered, release chan struct{}
}

func (s *stuckStore) StartDeparture(ctx context.Context, name string, d train.Departure) error {
	if name == s.train && d.Early {
		close(s.entered)
		<-s.release
	}
	return s.Store.StartDeparture(ctx, name, d)
}

// noRunner ships nothing: the trains of the test leave empty.
type noRunner struct{}

func (noRunner) Handle(context.Context, commands.Request, commands.Output) commands.Outcome {
	return commands.Outcome{}
}

// A train depart now waiting for a slow store holds up only its own
// train: another train departs meanwhile, and the scheduler still waits
// for both departures as it stops.
func TestDepartNowWaitsForTheStoreAlone(t *testing.T) {
	yaml := trainYAML + `  weekly:
    env: production
    channels: ["#releases"]
    boarding: "0 10 * * 1"
    departure: "0 14 * * 1"
`
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	stuck := &stuckStore{Store: st, train: "daily", entered: make(chan struct{}), release: make(chan struct{})}
	out := &channel{}
	sched, err := train.New(train.Options{Config: cfg, Store: stuck, Runner: noRunner{}, Notifier: out, Audit: st, Leases: st,
		Leader: func() bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- sched.Run(ctx) }()

	daily := make(chan error, 1)
	go func() {
		_, err := sched.DepartNow(context.Background(), "ana", "daily")
		daily <- err
	}()
	<-stuck.entered
	// Returns while the daily train's record waits: nothing it does
	// waits on another train's store calls.
	if _, err := sched.DepartNow(context.Background(), "ana", "weekly"); err != nil {
		t.Errorf("weekly train depart now while the daily one's waits for the store: %v", err)
	}
	close(stuck.release)
	if err := <-daily; err != nil {
		t.Errorf("daily train depart now: %v", err)
	}
	stop()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	// Run returned once both departures had said what became of them
	// (left empty, or did not leave as the bot stopped).
	var said []string
	for _, m := range out.all() {
		if strings.Contains(m, "sent off early by @ana") {
			said = append(said, m)
		}
	}
	if len(said) != 2 {
		t.Errorf("posts after Run returned: got %q, want one of each departure", out.all())
	}
}
