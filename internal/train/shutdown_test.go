package train

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestStopWhileDepartureWaits: a scheduled departure due while the train
// is departing already (sent off early here, or on another replica)
// waits for it; if the bot stops meanwhile, the scheduled one does not
// leave. The audit log says so, as it says what became of every scheduled
// departure, and so does the train's channel, to the people waiting for
// it: their cars stay aboard for the next train, and it says when that is.
func TestStopWhileDepartureWaits(t *testing.T) {
	tests := []struct {
		name string
		// early sends the train off early here, with accounting aboard;
		// otherwise another replica holds the train's departure lease.
		early     bool
		why       string
		wantLines []string
	}{
		{
			name: "an earlier departure here", early: true,
			why:       "the bot stopped while an earlier departure of the train was under way",
			wantLines: []string{"billing 77 (@bob) stays aboard for the next one, Tue 2 Jun 14:00 CEST."},
		},
		{
			name:      "a departure on another replica",
			why:       "the bot stopped while another replica was departing the train",
			wantLines: []string{"accounting 1338 (@alice), billing 77 (@bob) stay aboard for the next one, Tue 2 Jun 14:00 CEST."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 1, 13, 58), nil) // a Monday
			h.board("alice", "accounting", "1338")
			// accounting's deploy finishes only as the bot stops: the
			// early departure holds the train until then.
			h.runner.outcome["accounting"] = "at stop"
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			opt := Options{Config: h.cfg, Store: h.store, Runner: h.runner, Notifier: h.notes, Audit: h.store, Now: h.clock.Now,
				Sleep: func(sctx context.Context, until time.Time) error {
					if until.After(at(2026, 6, 1, 14, 0)) {
						// The 14:00 departure is due, and waits: the
						// bot stops now.
						waitDeadline(t, "the 14:00 departure to wait", func() bool {
							w, err := h.store.LastRun(t.Context(), "daily", KindWaiting)
							return err == nil && !w.IsZero()
						})
						stop()
						return sctx.Err()
					}
					h.clock.Set(until)
					return nil
				}}
			if !tt.early {
				opt.Leases = heldLeases{}
			}
			s, err := New(opt)
			if err != nil {
				t.Fatal(err)
			}
			if tt.early {
				if _, err := s.DepartNow(t.Context(), "ana", "daily"); err != nil {
					t.Fatal(err)
				}
				waitDeadline(t, "the early departure's deploy", func() bool { return len(h.runner.texts()) == 1 })
			}
			h.board("bob", "billing", "77")

			if err := s.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}

			want := "switchman event: train daily departure Mon 1 Jun 14:00 CEST: did not leave: " + tt.why
			if got := h.store.audited(); !slices.Contains(got, want) {
				t.Errorf("audited %q, want %q", got, want)
			}
			title := "The 14:00 train to production did not leave: " + tt.why + "."
			if got := h.notes.find("#deploys", title); len(got) != 1 || !slices.Equal(got[0].Lines, tt.wantLines) || got[0].Level != chat.Warning || !got[0].Public {
				t.Errorf("posts %q; want one public warning %q with lines %q", h.notes.titles("#deploys"), title, tt.wantLines)
			}
			wantDeploys := 0
			if tt.early {
				wantDeploys = 1 // accounting's, on the early departure
			}
			if got := h.runner.texts(); len(got) != wantDeploys {
				t.Errorf("deploys %q, want %d", got, wantDeploys)
			}
		})
	}
}

// heldLeases is a Leaser whose every lease another replica holds.
type heldLeases struct{}

func (heldLeases) Acquire(_ context.Context, key, _ string, _ time.Duration) (deploy.Lease, error) {
	return nil, &deploy.LeaseHeldError{Key: key, Holder: "departure of daily on another replica"}
}

func (heldLeases) Holder(context.Context, string) (string, error) {
	return "departure of daily on another replica", nil
}

// TestStopAsDepartureFallsDue: a bot told to stop just as a departure
// falls due does not begin it. It is neither recorded as run nor audited
// and announced as not leaving for a reason it does not have (the store,
// asked within the ended context, "unreachable"): once the bot is back
// within the train's grace it runs late, and the audit log holds one
// entry for it, its summary.
func TestStopAsDepartureFallsDue(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 13, 50), nil) // a Tuesday
	h.board("alice", "accounting", "1338")
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	s, err := New(Options{Config: h.cfg, Store: h.store, Runner: h.runner, Notifier: h.notes, Audit: h.store, Now: h.clock.Now,
		Sleep: func(sctx context.Context, until time.Time) error {
			if until.Equal(at(2026, 6, 2, 14, 0)) {
				// The timer fires as the bot is told to stop.
				h.clock.Set(until)
				stop()
				return nil
			}
			<-sctx.Done()
			return sctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := h.store.audited(); len(got) != 0 {
		t.Errorf("audited as the bot stopped: %q, want nothing: the departure did not begin", got)
	}
	if got := h.notes.titles("#deploys"); len(got) != 0 {
		t.Errorf("posts as the bot stopped: %q, want none", got)
	}

	h.clock.Set(at(2026, 6, 2, 14, 5))
	h.run(at(2026, 6, 2, 14, 10))
	var entries []string
	for _, e := range h.store.audited() {
		if strings.Contains(e, "train daily departure Tue 2 Jun 14:00 CEST") {
			entries = append(entries, e)
		}
	}
	if len(entries) != 1 || !strings.Contains(entries[0], "has left: 1 shipped") {
		t.Errorf("audit entries of the 14:00 departure: %q, want one, its summary (it ran late)", entries)
	}
}

// waitDeadline polls cond until it holds or 10 seconds pass.
func waitDeadline(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStopDuringDeparture: a bot told to stop as a departure that has
// begun waits on the store is stopping, not failing to reach the store:
// the departure, audit log and channel say so, and the log holds no
// warning or error. A departure the stop keeps from leaving stays recorded
// as run, so it says when the cars leave instead; one whose recording the
// stop cut short before it was made is left to the next start, as one the
// stop kept from beginning.
func TestStopDuringDeparture(t *testing.T) {
	const notLeft = "The 14:00 train to production did not leave: the bot was stopping."
	stayLines := []string{"accounting 1338 (@alice) stays aboard for the next one, Wed 3 Jun 14:00 CEST."}
	tests := []struct {
		name string
		// method is the store call the stop cuts short, the first once
		// the departure is recorded (at it, for MarkRun); made says
		// whether its change is made all the same.
		method string
		made   bool
		// early arms it from the start rather than once the departure
		// is recorded: the scheduler's look for what fell due.
		early     bool
		wantTitle string // of the one post after the stop; "": none
		wantLines []string
		wantAudit string // "": the departure is not audited
	}{
		{name: "recording it, recorded", method: "MarkRun", made: true,
			wantTitle: notLeft, wantLines: stayLines, wantAudit: "did not leave: the bot was stopping"},
		{name: "recording it, not recorded", method: "MarkRun"},
		{name: "looking for what fell due", method: "LastRun", early: true},
		{name: "reading whether it was cancelled", method: "LastRun",
			wantTitle: notLeft, wantLines: stayLines, wantAudit: "did not leave: the bot was stopping"},
		{name: "reading its cars", method: "Cars",
			wantTitle: notLeft, wantLines: stayLines, wantAudit: "did not leave: the bot was stopping"},
		{name: "taking a car off", method: "Leave", made: true,
			wantTitle: "🚂 The 14:00 train to production is postponed: the bot is shutting down",
			wantLines: []string{"accounting 1338 (@alice) moves to the next train, Wed 3 Jun 14:00 CEST."},
			wantAudit: "🚂 The 14:00 train to production is postponed: the bot is shutting down; accounting 1338 (@alice) moves to the next train, Wed 3 Jun 14:00 CEST."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 13, 50), nil) // a Tuesday
			if err := h.store.MarkRun(t.Context(), "daily", KindDeparture, at(2026, 6, 1, 14, 0)); err != nil {
				t.Fatal(err)
			}
			h.board("alice", "accounting", "1338")
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			st := &stopAt{MemStore: h.store, method: tt.method, made: tt.made, stop: stop}
			h.store.afterMark = func(kind string) {
				if kind == KindDeparture {
					st.armed.Store(true)
				}
			}
			st.armed.Store(tt.early || tt.method == "MarkRun")
			var logs syncbuf.Buffer
			var s *Scheduler
			s, err := New(Options{Config: h.cfg, Store: st, Runner: h.runner, Notifier: h.notes, Audit: h.store, Now: h.clock.Now,
				Log: slog.New(slog.NewTextHandler(&logs, nil)),
				Sleep: func(sctx context.Context, until time.Time) error {
					// The departure under way ends before the clock
					// moves on.
					s.wg.Wait()
					if err := sctx.Err(); err != nil {
						return err
					}
					h.clock.Set(until)
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !st.tripped.Load() {
				t.Fatalf("the departure made no %s call", tt.method)
			}

			var posted []chat.Message
			for _, m := range h.notes.find("#deploys", "") {
				if !strings.Contains(m.Title, "is leaving with") {
					posted = append(posted, m)
				}
			}
			switch {
			case tt.wantTitle == "" && len(posted) > 0:
				t.Errorf("posts %q, want none", h.notes.titles("#deploys"))
			case tt.wantTitle != "" && (len(posted) != 1 || posted[0].Title != tt.wantTitle || !slices.Equal(posted[0].Lines, tt.wantLines)):
				t.Errorf("posts %q, want one %q with lines %q", h.notes.titles("#deploys"), tt.wantTitle, tt.wantLines)
			}
			var entries []string
			for _, e := range h.store.audited() {
				if what, ok := strings.CutPrefix(e, "switchman event: train daily departure Tue 2 Jun 14:00 CEST: "); ok {
					entries = append(entries, what)
				}
			}
			if want := []string{tt.wantAudit}; tt.wantAudit == "" && len(entries) > 0 || tt.wantAudit != "" && !slices.Equal(entries, want) {
				t.Errorf("audit entries of the departure: %q, want %q", entries, tt.wantAudit)
			}
			if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
				t.Errorf("aboard: %q, want accounting 1338, for the next train", got)
			}
			if got := h.runner.texts(); len(got) != 0 {
				t.Errorf("deploys %q, want none", got)
			}
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
					t.Errorf("logged %s", strings.TrimSpace(line))
				}
			}
		})
	}
}

// stopAt is a Store that tells the bot to stop (stop) during its first
// call of method once armed: the call fails with the ended context's
// error, as a store does whose answer the stop cut short, and its change
// is made all the same if made. MarkRun stops at a departure's only.
type stopAt struct {
	*MemStore
	method  string
	made    bool
	stop    context.CancelFunc
	armed   atomic.Bool
	tripped atomic.Bool
}

// trip reports whether this call of method is the one the stop cuts short.
func (s *stopAt) trip(method string) bool {
	if method != s.method || !s.armed.CompareAndSwap(true, false) {
		return false
	}
	s.tripped.Store(true)
	s.stop()
	return true
}

func (s *stopAt) cut(ctx context.Context, op string) error {
	return fmt.Errorf("%s: state store did not answer in time: %w", op, ctx.Err())
}

func (s *stopAt) Cars(ctx context.Context, name string) ([]Car, error) {
	if s.trip("Cars") {
		return nil, s.cut(ctx, "cars")
	}
	return s.MemStore.Cars(ctx, name)
}

func (s *stopAt) Leave(ctx context.Context, name, app, by string, at time.Time) (Car, error) {
	if s.trip("Leave") {
		if s.made {
			_, _ = s.MemStore.Leave(context.WithoutCancel(ctx), name, app, by, at)
		}
		return Car{}, s.cut(ctx, "leave")
	}
	return s.MemStore.Leave(ctx, name, app, by, at)
}

func (s *stopAt) LastRun(ctx context.Context, name, kind string) (time.Time, error) {
	if s.trip("LastRun") {
		return time.Time{}, s.cut(ctx, "last run")
	}
	return s.MemStore.LastRun(ctx, name, kind)
}

func (s *stopAt) MarkRun(ctx context.Context, name, kind string, at time.Time) error {
	if kind == KindDeparture && s.trip("MarkRun") {
		if s.made {
			_ = s.MemStore.MarkRun(context.WithoutCancel(ctx), name, kind, at)
		}
		return s.cut(ctx, "mark run")
	}
	return s.MemStore.MarkRun(ctx, name, kind, at)
}

func (s *stopAt) StartDeparture(ctx context.Context, name string, d Departure) error {
	if !d.Early && s.trip("MarkRun") {
		if s.made {
			_ = s.MemStore.StartDeparture(context.WithoutCancel(ctx), name, d)
		}
		return s.cut(ctx, "start departure")
	}
	return s.MemStore.StartDeparture(ctx, name, d)
}

// TestStopAsWaitingDepartureStopsWaiting: a scheduled departure that
// waited for an earlier one says so in the store, and stops saying so
// once that one has ended. If the bot stops at that instant, the clear is
// made all the same: a waiting mark left behind would have the restarted
// bot's cancel take that departure, long gone, for one about to leave.
func TestStopAsWaitingDepartureStopsWaiting(t *testing.T) {
	h := newHarness(t, at(2026, 6, 1, 13, 58), nil) // a Monday
	h.board("alice", "accounting", "1338")
	// The early departure's deploy ends once the 14:00 one waits for it.
	h.runner.onDeploy = func(string) {
		waitDeadline(t, "the 14:00 departure to wait", func() bool {
			w, err := h.store.LastRun(t.Context(), "daily", KindWaiting)
			return err == nil && !w.IsZero()
		})
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	st := &stopAtClear{MemStore: h.store, stop: stop}
	s, err := New(Options{Config: h.cfg, Store: st, Runner: h.runner, Notifier: h.notes, Audit: h.store, Now: h.clock.Now,
		Sleep: func(sctx context.Context, until time.Time) error {
			if until.After(at(2026, 6, 1, 14, 0)) {
				<-sctx.Done()
				return sctx.Err()
			}
			h.clock.Set(until)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DepartNow(t.Context(), "ana", "daily"); err != nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !st.tripped.Load() {
		t.Fatal("the 14:00 departure never stopped waiting")
	}
	if w, err := h.store.LastRun(t.Context(), "daily", KindWaiting); err != nil || !w.IsZero() {
		t.Errorf("waiting departure after the stop: %v, %v; want none", w, err)
	}
}

// stopAtClear is a Store that tells the bot to stop as a departure
// clears its waiting mark, and then answers as the store does: within the
// context it is given.
type stopAtClear struct {
	*MemStore
	stop    context.CancelFunc
	tripped atomic.Bool
}

func (s *stopAtClear) MarkRun(ctx context.Context, name, kind string, at time.Time) error {
	if kind == KindWaiting && at.IsZero() && s.tripped.CompareAndSwap(false, true) {
		s.stop()
	}
	return s.MemStore.MarkRun(ctx, name, kind, at)
}
