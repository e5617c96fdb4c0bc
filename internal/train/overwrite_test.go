package train

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestDepartNowSaysTheOneItsRecordReplaces: the store keeps the last
// departure sent off early alone. One the bot died during, not said yet
// (nobody has taken over the lead since), is said by the next train
// depart now before that one's record replaces it, and only once.
func TestDepartNowSaysTheOneItsRecordReplaces(t *testing.T) {
	const cutShort = "The 12:00 train to production was cut short: the bot stopped after it was sent off, before it said what became of its cars."
	h := newHarness(t, at(2026, 6, 3, 12, 0), nil)
	// Sent off at 12:00 by a bot that died before its summary: recorded
	// as leaving, never as ended.
	if err := h.store.MarkRun(t.Context(), "daily", KindEarly, at(2026, 6, 3, 12, 0)); err != nil {
		t.Fatal(err)
	}
	h.board("alice", "accounting", "1338")
	// Restarted, the bot takes a train depart now before it first looks
	// at the schedule as leader.
	h.clock.Set(at(2026, 6, 3, 12, 10))
	h.restart()
	if _, err := h.s.DepartNow(t.Context(), "ana", "daily"); err != nil {
		t.Fatal(err)
	}
	h.s.wg.Wait()
	h.run(at(2026, 6, 3, 12, 20))

	var said []string
	for _, title := range h.notes.titles("#deploys") {
		if strings.Contains(title, "cut short") {
			said = append(said, title)
		}
	}
	if len(said) != 1 || said[0] != cutShort {
		t.Errorf("posts saying a departure was cut short: got %q, want %q once", said, cutShort)
	}
	var audited []string
	for _, e := range h.store.audited() {
		if strings.Contains(e, "cut short") || strings.Contains(e, "did not end") {
			audited = append(audited, e)
		}
	}
	if len(audited) != 1 {
		t.Errorf("audit entries of the departure the bot died during: got %q, want one", audited)
	}
}

// markMondayUnended records Friday's departure, ended, and Monday's,
// which never was: the runs a bot that died during Monday's departure
// leaves behind.
func markMondayUnended(t *testing.T, h *harness) {
	t.Helper()
	for _, m := range []struct {
		kind string
		at   time.Time
	}{
		{KindDeparture, at(2026, 5, 29, 14, 0)}, {KindEnded, at(2026, 5, 29, 14, 0)}, // Friday's ended
		{KindDeparture, at(2026, 6, 1, 14, 0)}, // Monday's never did
	} {
		if err := h.store.MarkRun(t.Context(), "daily", m.kind, m.at); err != nil {
			t.Fatal(err)
		}
	}
}

// TestScheduledDepartureSaysTheOneItsRecordReplaces: a bot that died
// during Monday's departure restarts as Tuesday's falls due, the dead
// bot's departure lease still held. Tuesday's record replaces Monday's in
// the store before the departure cut short is said, which waits for the
// lease: Tuesday's departure says it, once it holds the train, and only
// once.
func TestScheduledDepartureSaysTheOneItsRecordReplaces(t *testing.T) {
	const cutShort = "The Mon 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars."
	h := newHarness(t, at(2026, 6, 2, 14, 0), nil)
	markMondayUnended(t, h)
	h.board("alice", "accounting", "1338")
	h.leases = &expiringLeases{held: 1}
	h.restart()
	h.run(at(2026, 6, 2, 14, 30))

	var said []string
	left := false
	for _, title := range h.notes.titles("#deploys") {
		if strings.Contains(title, "cut short") {
			said = append(said, title)
		}
		left = left || strings.HasPrefix(title, "🚂 The 14:00 train to production has left: 1 shipped")
	}
	if len(said) != 1 || said[0] != cutShort {
		t.Errorf("posts saying a departure was cut short: got %q, want %q once", said, cutShort)
	}
	if !left {
		t.Errorf("posts: got %q, want Tuesday's departure to have left", h.notes.titles("#deploys"))
	}
}

// TestDueDepartureNotLeavingSaysTheOneItsRecordReplaces: a bot that died
// during Monday's departure restarts as Tuesday's falls due, the dead
// bot's departure lease still held. Tuesday's does not leave, cancelled,
// missed, or outwaited by another replica holding the train all through
// its grace; its record replaces Monday's in the store all the same, and
// it says Monday's was cut short once it holds the train, before it
// records its own end, and only once.
func TestDueDepartureNotLeavingSaysTheOneItsRecordReplaces(t *testing.T) {
	const cutShort = "The Mon 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars."
	tests := []struct {
		name   string
		start  time.Time
		grace  time.Duration
		cancel bool
		// held, when set, holds the train's lease on another replica
		// until Tuesday's departure is said not to leave.
		held bool
		want string
	}{
		{name: "cancelled", start: at(2026, 6, 2, 14, 0), cancel: true,
			want: "🚫 The 14:00 train to production does not leave: it was cancelled."},
		{name: "missed", start: at(2026, 6, 2, 14, 20),
			want: "The 14:00 train to production did not leave: the bot was down at departure time."},
		{name: "outwaited", start: at(2026, 6, 2, 14, 0), grace: time.Second, held: true,
			want: "The 14:00 train to production did not leave: another replica of the bot was departing the train for all of its grace (1s). The cars stay aboard."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.start, func(c *config.Config) {
				if tc.grace > 0 {
					c.Trains["daily"].Grace = config.Duration(tc.grace)
				}
			})
			markMondayUnended(t, h)
			if tc.cancel {
				if err := h.store.MarkRun(t.Context(), "daily", KindCancel, at(2026, 6, 2, 14, 0)); err != nil {
					t.Fatal(err)
				}
			}
			h.board("alice", "accounting", "1338")
			if tc.held {
				// The grace runs out on the scheduler's clock: a refusal
				// once Tuesday's departure waits moves it past the grace.
				l := &leasesHeldUntil{free: make(chan struct{}), refused: func() {
					if w, err := h.store.LastRun(context.Background(), "daily", KindWaiting); err == nil && w.Equal(tc.start) {
						h.clock.Set(tc.start.Add(2 * tc.grace))
					}
				}}
				var once sync.Once
				h.notes.onPost = func(m chat.Message) {
					if m.Title == tc.want {
						once.Do(func() { close(l.free) })
					}
				}
				h.leases = l
			} else {
				h.leases = &expiringLeases{held: 1}
			}
			h.restart()
			h.run(at(2026, 6, 2, 14, 30))

			var said []string
			var notLeft int
			for _, title := range h.notes.titles("#deploys") {
				if strings.Contains(title, "cut short") {
					said = append(said, title)
				}
				if title == tc.want {
					notLeft++
				}
			}
			if len(said) != 1 || said[0] != cutShort {
				t.Errorf("posts saying a departure was cut short: got %q, want %q once", said, cutShort)
			}
			if notLeft != 1 {
				t.Errorf("posts: got %q, want %q once", h.notes.titles("#deploys"), tc.want)
			}
			if ended, err := h.store.LastRun(t.Context(), "daily", KindEnded); err != nil || !ended.Equal(at(2026, 6, 2, 14, 0)) {
				t.Errorf("last departure recorded as ended: got %v, %v; want Tuesday's", ended, err)
			}
		})
	}
}

// leasesHeldUntil holds every lease on another replica until free is
// closed, calling refused, when set, as it refuses one.
type leasesHeldUntil struct {
	free    chan struct{}
	refused func()
}

func (l *leasesHeldUntil) Acquire(_ context.Context, key, _ string, _ time.Duration) (deploy.Lease, error) {
	select {
	case <-l.free:
		return freeLease{}, nil
	default:
		if l.refused != nil {
			l.refused()
		}
		return nil, &deploy.LeaseHeldError{Key: key, Holder: "departure of daily 0a1b2c3d4e5f"}
	}
}

func (l *leasesHeldUntil) Holder(context.Context, string) (string, error) { return "", nil }

// TestStopWhileDueDepartureWaitsSaysTheOneItsRecordReplaces: Monday's
// departure never ended; Tuesday's falls due while the train departs
// (sent off early here, or on another replica), and its record replaces
// Monday's in the store. The bot stops as Tuesday's waits: Tuesday's
// says it did not leave, and, once the train is free, that Monday's was
// cut short, before it records its own end, and only once.
func TestStopWhileDueDepartureWaitsSaysTheOneItsRecordReplaces(t *testing.T) {
	const cutShort = "The Mon 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars."
	tests := []struct {
		name string
		// early sends the train off early here, with accounting aboard;
		// otherwise another replica holds the train's departure lease
		// until Tuesday's is said not to leave.
		early bool
		why   string
	}{
		{name: "an earlier departure here", early: true,
			why: "the bot stopped while an earlier departure of the train was under way"},
		{name: "a departure on another replica",
			why: "the bot stopped while another replica was departing the train"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 13, 58), nil) // a Tuesday
			markMondayUnended(t, h)
			h.board("alice", "accounting", "1338")
			h.runner.outcome["accounting"] = "at stop"
			title := "The 14:00 train to production did not leave: " + tt.why + "."
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			opt := Options{Config: h.cfg, Store: h.store, Runner: h.runner, Notifier: h.notes, Audit: h.store, Now: h.clock.Now,
				Sleep: func(sctx context.Context, until time.Time) error {
					if until.After(at(2026, 6, 2, 14, 0)) {
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
				l := &leasesHeldUntil{free: make(chan struct{})}
				var once sync.Once
				h.notes.onPost = func(m chat.Message) {
					if m.Title == title {
						once.Do(func() { close(l.free) })
					}
				}
				opt.Leases = l
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

			var said []string
			notLeft := 0
			for _, got := range h.notes.titles("#deploys") {
				if strings.Contains(got, "cut short") {
					said = append(said, got)
				}
				if got == title {
					notLeft++
				}
			}
			if len(said) != 1 || said[0] != cutShort {
				t.Errorf("posts saying a departure was cut short: got %q, want %q once", said, cutShort)
			}
			if notLeft != 1 {
				t.Errorf("posts: got %q, want %q once", h.notes.titles("#deploys"), title)
			}
			want := "switchman event: train daily departure Tue 2 Jun 14:00 CEST: did not leave: " + tt.why
			if got := h.store.audited(); !slices.Contains(got, want) {
				t.Errorf("audited %q, want %q", got, want)
			}
			if ended, err := h.store.LastRun(t.Context(), "daily", KindEnded); err != nil || !ended.Equal(at(2026, 6, 2, 14, 0)) {
				t.Errorf("last departure recorded as ended: got %v, %v; want Tuesday's", ended, err)
			}
		})
	}
}

// TestUnrecordedDueDepartureKeepsTheOneCutShort: a bot that died during
// Monday's departure restarts as Tuesday's falls due, the dead bot's
// departure lease still held. Tuesday's does not run: the store refuses
// its record, or whether another replica runs it cannot be read. Either
// way Monday's keeps its own record, unended, and is said to have been
// cut short once the train is free, once.
func TestUnrecordedDueDepartureKeepsTheOneCutShort(t *testing.T) {
	const cutShort = "The Mon 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars."
	refused := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	tests := []struct {
		name  string
		setup func(h *harness)
		// said starts the post that says Tuesday's does not run.
		said string
	}{
		{name: "record refused", said: "The 14:00 train to production did not leave: ",
			setup: func(h *harness) { h.store.setFailMark(KindDeparture, refused, false) }},
		{name: "holder unknown", said: "The 14:00 train to production may not leave: ",
			setup: func(h *harness) { h.once, h.store.failOnce = h.store, refused }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 14, 0), nil)
			markMondayUnended(t, h)
			h.board("alice", "accounting", "1338")
			tc.setup(h)
			// The dead bot's lease runs out once Tuesday's is said not
			// to run.
			l := &leasesHeldUntil{free: make(chan struct{})}
			var once sync.Once
			h.notes.onPost = func(m chat.Message) {
				if strings.HasPrefix(m.Title, tc.said) {
					once.Do(func() { close(l.free) })
				}
			}
			h.leases = l
			h.run(at(2026, 6, 2, 14, 30))

			var said []string
			notRun := 0
			for _, title := range h.notes.titles("#deploys") {
				if strings.Contains(title, "cut short") {
					said = append(said, title)
				}
				if strings.HasPrefix(title, tc.said) {
					notRun++
				}
			}
			if notRun == 0 {
				t.Fatalf("posts: got %q, want one starting %q", h.notes.titles("#deploys"), tc.said)
			}
			if len(said) != 1 || said[0] != cutShort {
				t.Errorf("posts saying a departure was cut short: got %q, want %q once", said, cutShort)
			}
			if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
				t.Errorf("aboard: %q, want accounting 1338", got)
			}
		})
	}
}
