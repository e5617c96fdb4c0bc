package train

import (
	"context"
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

// TestScheduledDepartureSaysTheOneItsRecordReplaces: a bot that died
// during Monday's departure restarts as Tuesday's falls due, the dead
// bot's departure lease still held. Tuesday's record replaces Monday's in
// the store before the departure cut short is said, which waits for the
// lease: Tuesday's departure says it, once it holds the train, and only
// once.
func TestScheduledDepartureSaysTheOneItsRecordReplaces(t *testing.T) {
	const cutShort = "The Mon 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars."
	h := newHarness(t, at(2026, 6, 2, 14, 0), nil)
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
			marks := []struct {
				kind string
				at   time.Time
			}{
				{KindDeparture, at(2026, 5, 29, 14, 0)}, {KindEnded, at(2026, 5, 29, 14, 0)}, // Friday's ended
				{KindDeparture, at(2026, 6, 1, 14, 0)}, // Monday's never did
			}
			if tc.cancel {
				marks = append(marks, struct {
					kind string
					at   time.Time
				}{KindCancel, at(2026, 6, 2, 14, 0)})
			}
			for _, m := range marks {
				if err := h.store.MarkRun(t.Context(), "daily", m.kind, m.at); err != nil {
					t.Fatal(err)
				}
			}
			h.board("alice", "accounting", "1338")
			if tc.held {
				l := &leasesHeldUntil{free: make(chan struct{})}
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

// leasesHeldUntil holds every lease on another replica until free is closed.
type leasesHeldUntil struct{ free chan struct{} }

func (l *leasesHeldUntil) Acquire(_ context.Context, key, _ string, _ time.Duration) (deploy.Lease, error) {
	select {
	case <-l.free:
		return freeLease{}, nil
	default:
		return nil, &deploy.LeaseHeldError{Key: key, Holder: "departure of daily 0a1b2c3d4e5f"}
	}
}

func (l *leasesHeldUntil) Holder(context.Context, string) (string, error) { return "", nil }
