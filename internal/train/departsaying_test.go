package train

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// gatedLease is oneLease whose first lease taken is handed out only once
// open is closed, taken closed as it is taken; refused is sent to at
// each Acquire refused.
type gatedLease struct {
	oneLease
	once    sync.Once
	taken   chan struct{}
	open    chan struct{}
	refused chan struct{}
}

func (l *gatedLease) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	lease, err := l.oneLease.Acquire(ctx, key, holder, ttl)
	if err != nil {
		select {
		case l.refused <- struct{}{}:
		default:
		}
		return nil, err
	}
	first := false
	l.once.Do(func() { first = true })
	if first {
		close(l.taken)
		<-l.open
	}
	return lease, nil
}

// TestDepartNowBehindOwnSaying: a train depart now while this replica,
// taking over the lead, says a departure cut short (cutShort) holds the
// train a moment, in its departure lease or tr.busy. It was refused as
// "departing already", "on another replica" when only the lease was
// held, though no departure was under way anywhere. It now waits for
// that saying to end and departs; a saying that holds the train past
// its wait is refused as what it is.
func TestDepartNowBehindOwnSaying(t *testing.T) {
	now := at(2026, 6, 1, 14, 10)
	cut := Departure{At: at(2026, 6, 1, 14, 0)}
	const cutTitle = "The 14:00 train to production was cut short"

	t.Run("lease held by the saying", func(t *testing.T) {
		h := newHarness(t, now, nil)
		leases := &gatedLease{taken: make(chan struct{}), open: make(chan struct{}), refused: make(chan struct{}, 1)}
		h.leases = leases
		h.restart()
		h.board("alice", "accounting", "1337")
		if err := h.store.StartDeparture(t.Context(), "daily", cut); err != nil {
			t.Fatal(err)
		}
		tr := h.s.trains["daily"]
		said := make(chan struct{})
		go func() {
			defer close(said)
			h.s.cutShort(t.Context(), "daily", tr, []Departure{cut}, now)
		}()
		<-leases.taken
		type result struct {
			m   chat.Message
			err error
		}
		departed := make(chan result, 1)
		go func() {
			m, err := h.s.DepartNow(t.Context(), "ana", "daily")
			departed <- result{m, err}
		}()
		// The depart now found the lease held, by the saying.
		<-leases.refused
		close(leases.open)
		r := <-departed
		<-said
		if r.err != nil {
			t.Fatalf("DepartNow behind this replica's own saying: %v", r.err)
		}
		h.s.wg.Wait()
		if n := len(h.notes.find("#deploys", cutTitle)); n != 1 {
			t.Errorf("posts saying the 14:00 was cut short: %d, want 1", n)
		}
		if got := h.notes.find("#deploys", "🚂 The 14:10 train to production has left"); len(got) != 1 {
			t.Errorf("summaries of the departure sent off: %d, want 1; posts %q", len(got), h.notes.titles("#deploys"))
		}
	})

	t.Run("train held past the wait", func(t *testing.T) {
		h := newHarness(t, now, nil)
		posting, release := make(chan struct{}), make(chan struct{})
		h.notes.onPost = func(m chat.Message) {
			if strings.HasPrefix(m.Title, cutTitle) {
				close(posting)
				<-release
			}
		}
		h.s.sayWait = time.Millisecond
		if err := h.store.StartDeparture(t.Context(), "daily", cut); err != nil {
			t.Fatal(err)
		}
		tr := h.s.trains["daily"]
		said := make(chan struct{})
		go func() {
			defer close(said)
			h.s.cutShort(t.Context(), "daily", tr, []Departure{cut}, now)
		}()
		<-posting
		_, err := h.s.DepartNow(t.Context(), "ana", "daily")
		close(release)
		<-said
		const want = "the daily train is held by this replica of the bot as it tells the train's channels of an earlier departure cut short " +
			"(the bot stopped during it); nothing was sent off: send it off again in a moment"
		if errs.CodeOf(err) != errs.Conflict || errs.Message(err) != want {
			t.Errorf("DepartNow while the saying holds the train:\ngot  %s\nwant %s", errText(err), "conflict: "+want)
		}
		// Said, the train is free.
		if _, err := h.s.DepartNow(t.Context(), "ana", "daily"); err != nil {
			t.Errorf("DepartNow once said: %v", err)
		}
		h.s.wg.Wait()
	})
}

// TestDepartNowBehindReplacedSaying: a due departure that does not leave
// (the bot stopping as it falls due, or cancelled) says the departure its
// record replaced, found unended, once it holds the train (replaced). A
// train depart now meanwhile was refused as "departing already", though
// no departure was under way: it now waits for that saying, as for
// cutShort's, and departs once it is said; held past its wait, it is
// refused as what holds the train.
func TestDepartNowBehindReplacedSaying(t *testing.T) {
	due1400 := at(2026, 6, 2, 14, 0)
	prev := []Departure{{At: at(2026, 6, 1, 14, 0)}}
	const cutTitle = "The Mon 14:00 train to production was cut short"
	const held = "the daily train is held by this replica of the bot as it tells the train's channels of an earlier departure cut short " +
		"(the bot stopped during it); nothing was sent off: send it off again in a moment"
	notLeaving := []struct {
		name string
		run  func(ctx context.Context, s *Scheduler, d due)
	}{
		{"stopped", func(ctx context.Context, s *Scheduler, d due) {
			s.stoppedDue(ctx, d, prev, stopping, false)
		}},
		{"cancelled", func(ctx context.Context, s *Scheduler, d due) {
			s.notLeaving(ctx, d, prev, "did not leave: it was cancelled", func(context.Context) {}, false)
		}},
	}
	for _, nl := range notLeaving {
		for _, tc := range []struct {
			name    string
			sayWait time.Duration
		}{
			{"said within the wait", stopTimeout},
			{"held past the wait", time.Millisecond},
		} {
			t.Run(nl.name+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, at(2026, 6, 2, 14, 5), nil)
				markMondayUnended(t, h)
				h.board("alice", "accounting", "1338")
				posting, release := make(chan struct{}), make(chan struct{})
				h.notes.onPost = func(m chat.Message) {
					if strings.HasPrefix(m.Title, cutTitle) {
						close(posting)
						<-release
					}
				}
				h.s.sayWait = tc.sayWait
				tr := h.s.trains["daily"]
				said := make(chan struct{})
				go func() {
					defer close(said)
					nl.run(t.Context(), h.s, due{name: "daily", tr: tr, kind: KindDeparture, at: due1400, from: due1400, of: due1400})
				}()
				<-posting
				if tc.sayWait < stopTimeout {
					_, err := h.s.DepartNow(t.Context(), "ana", "daily")
					close(release)
					<-said
					if errs.CodeOf(err) != errs.Conflict || errs.Message(err) != held {
						t.Errorf("DepartNow while the saying holds the train:\ngot  %s\nwant %s", errText(err), "conflict: "+held)
					}
					return
				}
				type result struct {
					m   chat.Message
					err error
				}
				departed := make(chan result, 1)
				go func() {
					m, err := h.s.DepartNow(t.Context(), "ana", "daily")
					departed <- result{m, err}
				}()
				close(release)
				r := <-departed
				<-said
				if r.err != nil {
					t.Fatalf("DepartNow behind this replica's saying of the departure replaced: %v", r.err)
				}
				h.s.wg.Wait()
				if n := len(h.notes.find("#deploys", cutTitle)); n != 1 {
					t.Errorf("posts saying the Mon 14:00 was cut short: %d, want 1", n)
				}
				if got := h.notes.find("#deploys", "🚂 The 14:05 train to production has left"); len(got) != 1 {
					t.Errorf("summaries of the departure sent off: %d, want 1; posts %q", len(got), h.notes.titles("#deploys"))
				}
			})
		}
	}
}

// TestDepartNowAsHandedSayingEnds: a due departure that does not leave
// once it holds the train (another replica departing it all through its
// grace, or the bot stopping as it waited for the lease) hands the train
// to notLeaving, which says the departure its record replaced. Its mark
// ended before the train was given back: a train depart now at that
// instant found the train held, unmarked, and was refused as "departing
// already", though nothing was under way. The train is now given back
// before the mark ends.
func TestDepartNowAsHandedSayingEnds(t *testing.T) {
	due1400 := at(2026, 6, 2, 14, 0)
	prev := []Departure{{At: at(2026, 6, 1, 14, 0)}}
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, s *Scheduler, d due)
	}{
		{"outwaited", func(ctx context.Context, s *Scheduler, d due) {
			s.outwaited(ctx, d, "another replica of the bot was departing the train", prev, true)
		}},
		{"stopped", func(ctx context.Context, s *Scheduler, d due) {
			s.stoppedDue(ctx, d, prev, stopping, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 14, 5), nil)
			markMondayUnended(t, h)
			h.board("alice", "accounting", "1338")
			tr := h.s.trains["daily"]
			var once sync.Once
			var departErr error
			asked := false
			tr.unmarked = func() {
				once.Do(func() {
					asked = true
					_, departErr = h.s.DepartNow(t.Context(), "ana", "daily")
				})
			}
			tr.busy <- struct{}{} // as fire's goroutine holds it
			tc.run(t.Context(), h.s, due{name: "daily", tr: tr, kind: KindDeparture, at: due1400, from: due1400, of: due1400})
			if !asked {
				t.Fatal("the saying of the departure replaced never ended its mark")
			}
			if departErr != nil {
				t.Fatalf("DepartNow as the saying's mark ended:\ngot  %s\nwant the train sent off", errText(departErr))
			}
			h.s.wg.Wait()
			if got := h.notes.find("#deploys", "🚂 The 14:05 train to production has left"); len(got) != 1 {
				t.Errorf("summaries of the departure sent off: %d, want 1; posts %q", len(got), h.notes.titles("#deploys"))
			}
			select {
			case tr.busy <- struct{}{}:
				tr.giveBack()
			default:
				t.Error("the train is still held once the departure sent off ended")
			}
		})
	}
}

// TestDepartNowAsSayingTakesTrain: a due departure that does not leave,
// not holding the train, takes it to say the departure its record
// replaced. The mark was set a moment after the train was taken: a train
// depart now then found it held, unmarked, and was refused as "departing
// already", with commands to keep cars from a departure that was not
// under way. The mark is now set as the train is taken: the depart now
// waits for the saying, here past its wait, and is refused as what holds
// the train.
func TestDepartNowAsSayingTakesTrain(t *testing.T) {
	due1400 := at(2026, 6, 2, 14, 0)
	prev := []Departure{{At: at(2026, 6, 1, 14, 0)}}
	const held = "the daily train is held by this replica of the bot as it tells the train's channels of an earlier departure cut short " +
		"(the bot stopped during it); nothing was sent off: send it off again in a moment"
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, s *Scheduler, d due)
	}{
		{"stopped", func(ctx context.Context, s *Scheduler, d due) {
			s.stoppedDue(ctx, d, prev, stopping, false)
		}},
		{"cancelled", func(ctx context.Context, s *Scheduler, d due) {
			s.notLeaving(ctx, d, prev, "did not leave: it was cancelled", func(context.Context) {}, false)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 14, 5), nil)
			markMondayUnended(t, h)
			h.board("alice", "accounting", "1338")
			h.s.sayWait = time.Millisecond
			tr := h.s.trains["daily"]
			var departErr error
			asked := false
			tr.took = func() {
				asked = true
				_, departErr = h.s.DepartNow(t.Context(), "ana", "daily")
			}
			tc.run(t.Context(), h.s, due{name: "daily", tr: tr, kind: KindDeparture, at: due1400, from: due1400, of: due1400})
			if !asked {
				t.Fatal("the saying of the departure replaced never took the train")
			}
			if errs.CodeOf(departErr) != errs.Conflict || errs.Message(departErr) != held {
				t.Errorf("DepartNow as the saying took the train:\ngot  %s\nwant %s", errText(departErr), "conflict: "+held)
			}
			// Said, the train is free.
			tr.took = nil
			if _, err := h.s.DepartNow(t.Context(), "ana", "daily"); err != nil {
				t.Errorf("DepartNow once said: %v", err)
			}
			h.s.wg.Wait()
		})
	}
}
