package sentry

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

// counts is a series of a quiet app (no error before the deploy) whose
// interval m after it holds at[m] errors.
func counts(at map[int]int) series {
	return func(m int) int { return at[m] }
}

// TestMinEventsAtEveryInterval: min_events is a rate and also the fewest
// errors a spike's intervals hold together, whatever the interval. At
// 10s, 5 a minute is under one error an interval, and two errors in 20 s
// after a deploy of a quiet app were a spike, rolled back by itself with
// auto_rollback. At 1m and over, an interval over the rate holds
// min_events errors by itself, and nothing changes there.
func TestMinEventsAtEveryInterval(t *testing.T) {
	tests := []struct {
		name        string
		iv          time.Duration
		consecutive int
		at          map[int]int
		// spikeAfter is the interval whose end completes the spike; -1:
		// none, the watch ends quiet.
		spikeAfter int
	}{
		{"10s: 2 errors in 20 s are noise", 10 * time.Second, 2, map[int]int{3: 1, 4: 1}, -1},
		{"10s: 4 errors in 40 s are noise", 10 * time.Second, 2, map[int]int{3: 1, 4: 1, 5: 1, 6: 1}, -1},
		{"10s: a run broken before its 5th error is noise", 10 * time.Second, 2, map[int]int{3: 2, 4: 2, 6: 2, 7: 2}, -1},
		{"10s: 5 errors in 20 s are a spike", 10 * time.Second, 2, map[int]int{3: 3, 4: 2}, 4},
		{"10s: 5 errors in 50 s, one an interval, are a spike", 10 * time.Second, 2, map[int]int{3: 1, 4: 1, 5: 1, 6: 1, 7: 1}, 7},
		{"10s: one interval of 5 errors, consecutive 1", 10 * time.Second, 1, map[int]int{2: 5}, 2},
		{"10s: one interval of 4 errors, consecutive 1, is noise", 10 * time.Second, 1, map[int]int{2: 4}, -1},
		{"30s: 3 errors in 30 s, consecutive 1, are noise", 30 * time.Second, 1, map[int]int{2: 3}, -1},
		{"30s: 5 errors in 30 s, consecutive 1, are a spike", 30 * time.Second, 1, map[int]int{2: 5}, 2},
		{"30s: 3 and 3 errors are a spike", 30 * time.Second, 2, map[int]int{2: 3, 3: 3}, 3},
		{"30s: 3 and 2 errors are under the rate", 30 * time.Second, 2, map[int]int{2: 3, 3: 2}, -1},
		{"1m: 5 and 5 errors are a spike", time.Minute, 2, map[int]int{2: 5, 3: 5}, 3},
		{"1m: 5 and 4 errors are under the rate", time.Minute, 2, map[int]int{2: 5, 3: 4}, -1},
		{"1m: 5 errors, consecutive 1, are a spike", time.Minute, 1, map[int]int{2: 5}, 2},
		{"1m: 4 errors, consecutive 1, are under the rate", time.Minute, 1, map[int]int{2: 4}, -1},
		{"5m: 25 and 25 errors are a spike", 5 * time.Minute, 2, map[int]int{1: 25, 2: 25}, 2},
		{"5m: 25 and 24 errors are under the rate", 5 * time.Minute, 2, map[int]int{1: 25, 2: 24}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Factor: 3, MinEvents: 5, Consecutive: tt.consecutive, Interval: tt.iv, Watch: 12 * tt.iv, AutoRollback: true}
			o, err := runWatch(t, &fakeReader{s: counts(tt.at)}, p)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(o.inconclusive) != 0 || len(o.unjudged) != 0 {
				t.Errorf("got inconclusive %q, unjudged %q, want neither", o.inconclusive, o.unjudged)
			}
			if tt.spikeAfter < 0 {
				if len(o.spikes) != 0 || o.quiet != 1 {
					t.Errorf("got spikes %+v, quiet %d; want no spike, quiet once", o.spikes, o.quiet)
				}
				return
			}
			want := alignDown(deployEnd, tt.iv).Add(time.Duration(tt.spikeAfter+1) * tt.iv)
			if len(o.spikes) != 1 || !o.spikes[0].At.Equal(want) {
				t.Fatalf("got spikes %+v, want one at %v", o.spikes, want)
			}
			if got := o.spikes[0].Rate; got != float64(tt.at[tt.spikeAfter])/tt.iv.Minutes() {
				t.Errorf("rate: got %v, want %v", got, float64(tt.at[tt.spikeAfter])/tt.iv.Minutes())
			}
		})
	}
}

// TestMinEventsWithClient: a watch at 10s against Sentry's API rolls a
// quiet app back for five errors in 20 s, never for two.
func TestMinEventsWithClient(t *testing.T) {
	iv := 10 * time.Second
	tests := []struct {
		name      string
		at        map[int]int
		wantSpike bool
	}{
		{"two errors in 20 s", map[int]int{3: 1, 4: 1}, false},
		{"five errors in 20 s", map[int]int{3: 3, 4: 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
			f.handle("GET", "/api/0/organizations/acme/events-stats/", statsPointsAt(iv, counts(tt.at)))
			f.handle("GET", "/api/0/organizations/acme/issues/", reply(200, `[]`))
			c := newTestClient(t, f, &sleeps{})
			o, err := runWatch(t, c, Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: iv, Watch: 2 * time.Minute, AutoRollback: true})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(o.inconclusive) != 0 {
				t.Errorf("inconclusive: got %q, want none", o.inconclusive)
			}
			stats := 0
			for _, r := range f.seen() {
				if strings.HasSuffix(r.Path, "/events-stats/") {
					stats++
					if got := r.Query.Get("interval"); got != "10s" {
						t.Errorf("events-stats interval: got %q, want 10s", got)
					}
				}
			}
			if stats < 2 {
				t.Errorf("events-stats reads: got %d, want the baseline's and the watch's", stats)
			}
			switch {
			case tt.wantSpike && (len(o.spikes) != 1 || !o.spikes[0].AutoRollback || math.Abs(o.spikes[0].Rate-12) > 1e-9):
				t.Errorf("got spikes %+v, want one of 12 errors/min that rolls back by itself", o.spikes)
			case !tt.wantSpike && (len(o.spikes) != 0 || o.quiet != 1):
				t.Errorf("got spikes %+v, quiet %d; want no spike, quiet once", o.spikes, o.quiet)
			}
		})
	}
}

// TestMinEventsResumed: a watch at 10s stopped in the middle of a run
// goes on with the errors the run held, and not with errors counted for
// another interval (a replica of an older version, which does not count
// them, went on with the run and left them as they were).
func TestMinEventsResumed(t *testing.T) {
	iv := 10 * time.Second
	at := func(m int) time.Time { return alignDown(deployEnd, iv).Add(time.Duration(m) * iv) }
	s := counts(map[int]int{3: 3, 4: 2})
	tests := []struct {
		name      string
		from      Progress
		wantSpike bool
	}{
		{"the run's errors are kept", Progress{Based: true, Next: at(4), Run: 1, Observed: 4, RunEvents: 3, RunEventsNext: at(4)}, true},
		{"errors counted before another interval are not the run's", Progress{Based: true, Next: at(4), Run: 1, Observed: 4, RunEvents: 3, RunEventsNext: at(2)}, false},
		{"a run saved without its errors", Progress{Based: true, Next: at(4), Run: 1, Observed: 4}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testclock.New(at(4))
			var spikes []SpikeReport
			quiet := 0
			w := &Watch{Reader: &fakeReader{s: s}, Org: "acme", Policy: Policy{Interval: iv, Watch: 2 * time.Minute, AutoRollback: true},
				Now: clock.Now, Sleep: clock.Sleep,
				OnSpike: func(r SpikeReport) { spikes = append(spikes, r) },
				OnQuiet: func() { quiet++ },
			}
			target := Target{App: "shop", Env: "production", Build: "1.2.3", Project: "shop-web", Started: deployStart, Finished: deployEnd}
			if err := w.RunFrom(context.Background(), target, tt.from); err != nil {
				t.Fatalf("RunFrom: %v", err)
			}
			if got := len(spikes) == 1; got != tt.wantSpike || len(spikes) > 1 {
				t.Errorf("got spikes %+v (quiet %d), want spike %v", spikes, quiet, tt.wantSpike)
			}
		})
	}
}

// TestMinEventsProgress: the progress a watch reports holds the errors of
// its run, for the interval it goes on at.
func TestMinEventsProgress(t *testing.T) {
	iv := 10 * time.Second
	at := func(m int) time.Time { return alignDown(deployEnd, iv).Add(time.Duration(m) * iv) }
	clock := testclock.New(deployEnd)
	var got []Progress
	w := &Watch{Reader: &fakeReader{s: counts(map[int]int{1: 2, 2: 2})}, Org: "acme", Policy: Policy{Interval: iv, Watch: 5 * iv},
		Now: clock.Now, Sleep: clock.Sleep,
		OnProgress: func(p Progress) { got = append(got, p) },
	}
	target := Target{App: "shop", Env: "production", Build: "1.2.3", Project: "shop-web", Started: deployStart, Finished: deployEnd}
	if err := w.Run(context.Background(), target); err != nil {
		t.Fatalf("Run: %v", err)
	}
	type run struct {
		Next          time.Time
		Run, Events   int
		RunEventsNext time.Time
	}
	want := []run{{at(0), 0, 0, time.Time{}}, {at(1), 0, 0, time.Time{}}, {at(2), 1, 2, at(2)}, {at(3), 2, 4, at(3)}, {at(4), 0, 0, time.Time{}}, {at(5), 0, 0, time.Time{}}}
	if len(got) != len(want) {
		t.Fatalf("progress: got %d reports %+v, want %d", len(got), got, len(want))
	}
	for i, p := range got {
		if g := (run{p.Next, p.Run, p.RunEvents, p.RunEventsNext}); !g.Next.Equal(want[i].Next) || g.Run != want[i].Run || g.Events != want[i].Events || !g.RunEventsNext.Equal(want[i].RunEventsNext) {
			t.Errorf("progress %d: got %+v, want %+v", i, g, want[i])
		}
	}
	// Saved and read back, as the state store keeps it.
	data, err := json.Marshal(got[3])
	if err != nil {
		t.Fatal(err)
	}
	var back Progress
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.RunEvents != 4 || !back.RunEventsNext.Equal(at(3)) {
		t.Errorf("read back from %s: got run events %d counted to %v, want 4 to %v", data, back.RunEvents, back.RunEventsNext, at(3))
	}
}

// statsPointsAt answers events-stats from s at interval iv, as Sentry
// does: aligned, zero-filled points of [start, end).
func statsPointsAt(iv time.Duration, s series) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		start, err1 := time.Parse("2006-01-02T15:04:05", q.Get("start"))
		end, err2 := time.Parse("2006-01-02T15:04:05", q.Get("end"))
		if err1 != nil || err2 != nil || q.Get("interval") != formatInterval(iv) || q.Get("project") != "42" || q.Get("environment") != "production" {
			http.Error(w, `{"detail":"bad query"}`, 400)
			return
		}
		data := [][]any{}
		for _, b := range zeroFill(start, end, iv, s) {
			data = append(data, []any{b.Start.Unix(), []map[string]int{{"count": b.Count}}})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data, "start": start.Unix(), "end": end.Unix()})
	}
}
