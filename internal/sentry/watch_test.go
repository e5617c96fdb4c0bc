package sentry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

// The deploy in these tests starts at 10:00:20 and finishes at 10:02:30 UTC.
var (
	deployStart = time.Date(2026, 3, 4, 10, 0, 20, 0, time.UTC)
	deployEnd   = time.Date(2026, 3, 4, 10, 2, 30, 0, time.UTC)
)

// series gives the error count of the bucket starting at minute m after
// the deploy finished (negative m: before it).
type series func(m int) int

// zeroFill builds what Sentry answers for [start, end): aligned buckets,
// zero-filled, without the one in progress.
func zeroFill(start, end time.Time, iv time.Duration, s series) []Bucket {
	var bs []Bucket
	for b := alignDown(start, iv); !b.Add(iv).After(end); b = b.Add(iv) {
		m := int(b.Sub(alignDown(deployEnd, iv)) / iv)
		bs = append(bs, Bucket{Start: b, Count: s(m)})
	}
	return bs
}

// fakeReader answers ErrorCounts from a series; fail says which calls
// (0 is the baseline) fail and how.
type fakeReader struct {
	s     series
	fail  func(call int) error
	empty func(call int) bool
	// keep, when set, says which buckets (by minute, as series) an answer
	// holds: Sentry's answers can have holes.
	keep   func(call, m int) bool
	issues []Issue
	// issuesErr, when set, is NewIssues' error.
	issuesErr error

	calls      int
	issueCalls []string
}

func (f *fakeReader) ErrorCounts(ctx context.Context, org, project, env string, start, end time.Time, iv time.Duration) ([]Bucket, error) {
	call := f.calls
	f.calls++
	if f.fail != nil {
		if err := f.fail(call); err != nil {
			return nil, err
		}
	}
	if f.empty != nil && f.empty(call) {
		return []Bucket{}, nil
	}
	bs := zeroFill(start, end, iv, f.s)
	if f.keep != nil {
		var kept []Bucket
		for _, b := range bs {
			if f.keep(call, int(b.Start.Sub(alignDown(deployEnd, iv))/iv)) {
				kept = append(kept, b)
			}
		}
		bs = kept
	}
	return bs, nil
}

func (f *fakeReader) NewIssues(ctx context.Context, org, project, env, version string, limit int) ([]Issue, error) {
	f.issueCalls = append(f.issueCalls, fmt.Sprintf("%s/%s/%s/%s/%d", org, project, env, version, limit))
	if f.issuesErr != nil {
		return nil, f.issuesErr
	}
	return f.issues, nil
}

// outcome is what the callbacks of one Run saw.
type outcome struct {
	spikes       []SpikeReport
	inconclusive []string
	quiet        int
	// unjudged holds "FROM–TO based" (or "unbased") per OnUnjudged.
	unjudged []string
}

func runWatch(t *testing.T, r Reader, p Policy) (outcome, error) {
	t.Helper()
	// In a zone of its own: the times the watch gives people are in
	// the zone of its clock, the bot's, not in UTC.
	clock := testclock.New(deployEnd.In(time.FixedZone("CET", 60*60)))
	var o outcome
	w := &Watch{
		Reader: r, Org: "acme", Policy: p,
		Now: clock.Now, Sleep: clock.Sleep,
		OnSpike:        func(s SpikeReport) { o.spikes = append(o.spikes, s) },
		OnInconclusive: func(reason string, _ bool) { o.inconclusive = append(o.inconclusive, reason) },
		OnQuiet:        func() { o.quiet++ },
		OnUnjudged: func(from, to time.Time, based bool) {
			how := "based"
			if !based {
				how = "unbased"
			}
			o.unjudged = append(o.unjudged, fmt.Sprintf("%v–%v %s", from.UTC(), to.UTC(), how))
		},
	}
	err := w.Run(context.Background(), Target{
		App: "shop", Env: "production", Build: "1.2.3", Project: "shop-web",
		Started: deployStart, Finished: deployEnd,
	})
	return o, err
}

func flat(n int) series { return func(int) int { return n } }

// after returns before for minutes before the deploy and post(m) after it.
func after(before int, post func(m int) int) series {
	return func(m int) int {
		if m < 0 {
			return before
		}
		return post(m)
	}
}

var errSentry500 = errs.Wrap(errs.Unavailable, &Error{Status: 500, Attempts: 4}, "Sentry is failing (count errors of shop-web)")

func TestWatch(t *testing.T) {
	p := Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 10 * time.Minute}
	issues := []Issue{{ID: "1001", ShortID: "SHOP-WEB-1A", Title: "KeyError: 'cart'", Permalink: "https://sentry.io/organizations/acme/issues/1001/", Count: 150}}
	tests := []struct {
		name             string
		reader           *fakeReader
		wantSpike        bool
		wantRate         float64
		wantBaseline     float64
		wantAt           time.Time
		wantInconclusive string // substring; "" for none
		wantQuiet        bool
	}{
		{
			name:      "flat baseline",
			reader:    &fakeReader{s: flat(10)},
			wantQuiet: true,
		},
		{
			name:         "zero baseline",
			reader:       &fakeReader{s: after(0, func(m int) int { return []int{0, 0, 6, 7, 8}[min(m, 4)] })},
			wantSpike:    true,
			wantRate:     7,
			wantBaseline: 0,
			wantAt:       time.Date(2026, 3, 4, 10, 6, 0, 0, time.UTC),
		},
		{
			name:      "zero baseline, noise under MinEvents",
			reader:    &fakeReader{s: after(0, func(m int) int { return m % 4 })},
			wantQuiet: true,
		},
		{
			name:      "slow rise",
			reader:    &fakeReader{s: after(10, func(m int) int { return 10 + 2*m })}, // 10 … 28 < 30
			wantQuiet: true,
		},
		{
			name: "single-bucket blip",
			reader: &fakeReader{s: after(10, func(m int) int {
				if m == 4 {
					return 200
				}
				return 10
			})},
			wantQuiet: true,
		},
		{
			name: "spike after 3 minutes",
			reader: &fakeReader{s: after(10, func(m int) int {
				if m < 3 {
					return 10
				}
				return 50 + 10*(m-3)
			})},
			wantSpike:    true,
			wantRate:     60,
			wantBaseline: 10,
			wantAt:       time.Date(2026, 3, 4, 10, 7, 0, 0, time.UTC),
		},
		{
			name: "Sentry failing after the deploy",
			reader: &fakeReader{s: flat(10), fail: func(call int) error {
				if call > 0 {
					return errSentry500
				}
				return nil
			}},
			wantInconclusive: "cannot read the error rate after the deploy: Sentry is failing",
		},
		{
			name: "timeouts, then a spike in the data read late",
			reader: &fakeReader{s: after(10, func(m int) int {
				if m < 1 {
					return 10
				}
				return 80
			}), fail: func(call int) error {
				if call == 1 || call == 2 {
					return fmt.Errorf("count errors: %w", context.DeadlineExceeded)
				}
				return nil
			}},
			wantInconclusive: "cannot read the error rate after the deploy",
			wantSpike:        true,
			wantRate:         80,
			wantBaseline:     10,
			wantAt:           time.Date(2026, 3, 4, 10, 5, 0, 0, time.UTC),
		},
		{
			name:             "empty series",
			reader:           &fakeReader{s: flat(10), empty: func(call int) bool { return call > 0 }},
			wantInconclusive: "Sentry returned no error counts after 11:02 CET",
		},
		{
			name: "empty series for a while",
			reader: &fakeReader{s: flat(10), empty: func(call int) bool {
				return call == 2 || call == 3
			}},
			wantInconclusive: "Sentry returned no error counts",
			wantQuiet:        true,
		},
		{
			// The hour before the deploy does not change: read again at
			// the first interval's read, it is there, and the watch
			// goes on.
			name: "baseline unreadable for a moment",
			reader: &fakeReader{s: flat(10), fail: func(call int) error {
				if call == 0 {
					return errSentry500
				}
				return nil
			}},
			wantInconclusive: "cannot read the error rate before the deploy: Sentry is failing (count errors of shop-web); it is read again at every interval",
			wantQuiet:        true,
		},
		{
			// A moment of Sentry's trouble as the deploy ends let a
			// spike go unwatched: the baseline read again when Sentry
			// is back, the intervals that ended meanwhile are judged
			// at once, and the spike is seen.
			name: "spike after a baseline unreadable for a while",
			reader: &fakeReader{s: after(10, func(m int) int {
				if m >= 1 {
					return 60
				}
				return 10
			}), fail: func(call int) error {
				if call <= 2 {
					return errSentry500
				}
				return nil
			}},
			wantSpike:        true,
			wantRate:         60,
			wantBaseline:     10,
			wantAt:           deployEnd.Truncate(time.Minute).Add(3 * time.Minute),
			wantInconclusive: "cannot read the error rate before the deploy",
		},
		{
			name: "baseline unreadable throughout",
			reader: &fakeReader{s: flat(10), fail: func(call int) error {
				return errSentry500
			}},
			wantInconclusive: "cannot read the error rate before the deploy: Sentry is failing",
		},
		{
			name:             "empty baseline",
			reader:           &fakeReader{s: flat(10), empty: func(call int) bool { return call == 0 }},
			wantInconclusive: "for 0 of the 60 intervals of the hour before the deploy",
		},
		{
			// One quiet minute is no baseline: the app's usual 10 a
			// minute would pass for a spike against it.
			name:             "sparse baseline",
			reader:           &fakeReader{s: after(0, flat(10)), keep: func(call, m int) bool { return call > 0 || m == -5 }},
			wantInconclusive: "for 1 of the 60 intervals of the hour before the deploy",
		},
		{
			// Minutes 3 and 5 are high, 4 is missing from the answer that
			// holds them both (read late, after failed reads): no run.
			name: "a hole in one answer is a gap",
			reader: &fakeReader{s: after(10, func(m int) int {
				if m == 3 || m == 5 {
					return 80
				}
				return 10
			}), fail: func(call int) error {
				if call >= 3 && call <= 6 {
					return fmt.Errorf("count errors: %w", context.DeadlineExceeded)
				}
				return nil
			}, keep: func(_, m int) bool { return m != 4 }},
			wantInconclusive: "cannot read the error rate after the deploy",
			wantQuiet:        true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.reader.issues = issues
			o, err := runWatch(t, tt.reader, p)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.wantSpike {
				if len(o.spikes) != 1 {
					t.Fatalf("spikes: got %d, want 1", len(o.spikes))
				}
				s := o.spikes[0]
				if s.Rate != tt.wantRate || s.Baseline != tt.wantBaseline || !s.At.Equal(tt.wantAt) {
					t.Errorf("spike: got rate %v baseline %v at %v, want %v, %v, %v", s.Rate, s.Baseline, s.At, tt.wantRate, tt.wantBaseline, tt.wantAt)
				}
				if s.App != "shop" || s.Env != "production" || s.Build != "1.2.3" || s.Version != "shop@1.2.3" {
					t.Errorf("spike target: got %s/%s %s %s", s.App, s.Env, s.Build, s.Version)
				}
				if len(s.Issues) != 1 || s.Issues[0].ShortID != "SHOP-WEB-1A" {
					t.Errorf("issues: got %+v, want the release's new issue", s.Issues)
				}
				if want := []string{"acme/shop-web/production/shop@1.2.3/5"}; fmt.Sprint(tt.reader.issueCalls) != fmt.Sprint(want) {
					t.Errorf("NewIssues calls: got %v, want %v", tt.reader.issueCalls, want)
				}
			} else if len(o.spikes) != 0 {
				t.Errorf("spikes: got %+v, want none", o.spikes)
			}
			switch {
			case tt.wantInconclusive == "" && len(o.inconclusive) != 0:
				t.Errorf("inconclusive: got %q, want none", o.inconclusive)
			case tt.wantInconclusive != "" && len(o.inconclusive) != 1:
				t.Errorf("inconclusive: got %q, want exactly one", o.inconclusive)
			case tt.wantInconclusive != "" && !strings.Contains(o.inconclusive[0], tt.wantInconclusive):
				t.Errorf("inconclusive: got %q, want it to contain %q", o.inconclusive[0], tt.wantInconclusive)
			}
			if got := o.quiet == 1; got != tt.wantQuiet || o.quiet > 1 {
				t.Errorf("quiet: called %d times, want quiet=%v", o.quiet, tt.wantQuiet)
			}
		})
	}
}

func TestWatchPollsEveryInterval(t *testing.T) {
	r := &fakeReader{s: flat(10)}
	o, err := runWatch(t, r, Policy{Interval: time.Minute, Watch: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// One baseline read, then one per minute for ten minutes.
	if r.calls != 11 {
		t.Errorf("reads: got %d, want 11", r.calls)
	}
	if o.quiet != 1 {
		t.Errorf("quiet: got %d, want 1", o.quiet)
	}
}

func TestWatchCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clock := testclock.New(deployEnd)
	quiet := 0
	n := 0
	w := &Watch{
		Reader: &fakeReader{s: flat(10)}, Org: "acme",
		Now: clock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			if n++; n == 3 {
				cancel()
			}
			return clock.Sleep(ctx, d)
		},
		OnQuiet: func() { quiet++ },
	}
	err := w.Run(ctx, Target{App: "shop", Env: "production", Build: "1", Project: "shop-web", Started: deployStart, Finished: deployEnd})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if quiet != 0 {
		t.Errorf("quiet: called %d times, want 0", quiet)
	}
}

func TestWatchNeedsConfiguration(t *testing.T) {
	w := &Watch{Org: "acme"}
	if err := w.Run(context.Background(), Target{Project: "shop-web"}); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("got %v, want an invalid error", err)
	}
}

func TestTargetOf(t *testing.T) {
	r := &deploy.Record{App: "shop", Env: "production", Build: "1.2.3", Started: deployStart, Finished: deployEnd}
	got := TargetOf(r, "shop-web", "{app}-{env}@{build}")
	want := Target{App: "shop", Env: "production", Build: "1.2.3", Project: "shop-web", Version: "shop-production@1.2.3", Started: deployStart, Finished: deployEnd}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestWatchWithClient runs a watch against the real client and a fake
// Sentry that fails with 500s, then hangs past the client's timeout, then
// serves a spike.
func TestWatchWithClient(t *testing.T) {
	f := newFakeSentry(t)
	f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
	s := after(4, func(m int) int { return 40 })
	points := func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		start, err1 := time.Parse("2006-01-02T15:04:05", q.Get("start"))
		end, err2 := time.Parse("2006-01-02T15:04:05", q.Get("end"))
		if err1 != nil || err2 != nil || q.Get("interval") != "1m" || q.Get("project") != "42" || q.Get("environment") != "production" {
			http.Error(w, `{"detail":"bad query"}`, 400)
			return
		}
		var data [][]any
		for _, b := range zeroFill(start, end, time.Minute, s) {
			data = append(data, []any{b.Start.Unix(), []map[string]int{{"count": b.Count}}})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data, "start": start.Unix(), "end": end.Unix()})
	}
	var mu sync.Mutex
	call := 0
	f.handle("GET", "/api/0/organizations/acme/events-stats/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		call++
		n := call
		mu.Unlock()
		switch {
		case n == 1: // the baseline
			points(w, r)
		case n <= 3: // first poll: 500 on both attempts
			reply(500, `{"detail":"Internal Error"}`)(w, r)
		case n <= 5: // second poll: both attempts time out
			hang(w, r)
		default:
			points(w, r)
		}
	})
	f.handle("GET", "/api/0/organizations/acme/issues/", reply(200, `[{"count":"40","id":"7","permalink":"https://sentry.io/organizations/acme/issues/7/","shortId":"SHOP-WEB-7","title":"ZeroDivisionError"}]`))

	c := newTestClient(t, f, &sleeps{}, func(o *Options) {
		o.Timeout = 100 * time.Millisecond
		o.Attempts = 2
	})
	o, err := runWatch(t, c, Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 10 * time.Minute})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(o.inconclusive) != 1 || !strings.Contains(o.inconclusive[0], "Sentry is failing") {
		t.Errorf("inconclusive: got %q, want one report of Sentry failing", o.inconclusive)
	}
	if len(o.spikes) != 1 {
		t.Fatalf("spikes: got %d, want 1", len(o.spikes))
	}
	sp := o.spikes[0]
	if sp.Rate != 40 || sp.Baseline != 4 || sp.Threshold != 12 {
		t.Errorf("spike: got rate %v baseline %v threshold %v, want 40, 4, 12", sp.Rate, sp.Baseline, sp.Threshold)
	}
	if len(sp.Issues) != 1 || sp.Issues[0].Title != "ZeroDivisionError" || sp.Issues[0].Count != 40 {
		t.Errorf("issues: got %+v", sp.Issues)
	}
	if o.quiet != 0 {
		t.Errorf("quiet: got %d, want 0", o.quiet)
	}
}

// TestLongIntervalNeedsABaseline: with a long interval, a watch whose
// baseline window (two intervals) has no data is inconclusive, never a
// spike.
func TestLongIntervalNeedsABaseline(t *testing.T) {
	clk := testclock.New(deployEnd)
	iv := 90 * time.Minute
	calls := 0
	r := bucketsFunc(func(start, end time.Time) []Bucket {
		calls++
		if calls == 1 {
			return nil // nothing for the hour before the deploy
		}
		return zeroFill(start, end, iv, func(int) int { return 5 * 90 }) // 5 a minute
	})
	var spiked bool
	var inconclusive string
	w := &Watch{Reader: r, Org: "acme", Now: clk.Now, Sleep: clk.Sleep,
		Policy:         Policy{Interval: iv, Watch: 4 * time.Hour, Consecutive: 2, AutoRollback: true},
		OnSpike:        func(SpikeReport) { spiked = true },
		OnInconclusive: func(reason string, _ bool) { inconclusive = reason }}
	if err := w.Run(context.Background(), Target{App: "web", Env: "production", Build: "2", Project: "web", Started: deployStart, Finished: deployEnd}); err != nil {
		t.Fatal(err)
	}
	if want := "for 0 of the 2 intervals of the 3h before the deploy"; spiked || !strings.Contains(inconclusive, want) {
		t.Errorf("no baseline: spiked %v, inconclusive %q; want inconclusive only, %q", spiked, inconclusive, want)
	}
}

// TestWatchLongInterval: an interval over half an hour fits no whole
// bucket into the hour before most deploys (buckets are aligned to the
// epoch); the baseline is read over two intervals then, so a spike is
// found whenever the deploy started.
func TestWatchLongInterval(t *testing.T) {
	for _, iv := range []time.Duration{31 * time.Minute, 45 * time.Minute, time.Hour} {
		for off := time.Duration(0); off < iv; off += iv / 4 {
			started := deployStart.Add(off)
			finished := started.Add(2 * time.Minute)
			perMinute := func(n int) int { return n * int(iv/time.Minute) }
			r := bucketsFunc(func(start, end time.Time) []Bucket {
				var bs []Bucket
				for b := alignDown(start, iv); !b.Add(iv).After(end); b = b.Add(iv) {
					n := perMinute(2)
					if b.After(finished) {
						n = perMinute(20)
					}
					bs = append(bs, Bucket{Start: b, Count: n})
				}
				return bs
			})
			clk := testclock.New(finished)
			var spikes []SpikeReport
			var inconclusive []string
			w := &Watch{Reader: r, Org: "acme", Now: clk.Now, Sleep: clk.Sleep,
				Policy:         Policy{Interval: iv, Watch: 4 * iv, Consecutive: 2, AutoRollback: true},
				OnSpike:        func(s SpikeReport) { spikes = append(spikes, s) },
				OnInconclusive: func(reason string, _ bool) { inconclusive = append(inconclusive, reason) }}
			if err := w.Run(context.Background(), Target{App: "web", Env: "production", Build: "2", Project: "web", Started: started, Finished: finished}); err != nil {
				t.Fatal(err)
			}
			if len(spikes) != 1 || spikes[0].Baseline != 2 || spikes[0].Rate != 20 || len(inconclusive) != 0 {
				t.Errorf("interval %s, deploy at %s: spikes %+v, inconclusive %q; want one spike, 20 a minute against 2", iv, started.Format("15:04:05"), spikes, inconclusive)
			}
		}
	}
}

// bucketsFunc is a Reader whose error counts come from a function.
type bucketsFunc func(start, end time.Time) []Bucket

func (f bucketsFunc) ErrorCounts(_ context.Context, _, _, _ string, start, end time.Time, _ time.Duration) ([]Bucket, error) {
	return f(start, end), nil
}

func (f bucketsFunc) NewIssues(context.Context, string, string, string, string, int) ([]Issue, error) {
	return nil, nil
}

// TestWatchWaitsForLateEvents: Sentry counts an event some seconds after
// it happened. A deploy that finished just after a bucket started had
// every interval read at once as it ended, short of its last seconds'
// events, and never read again: a spike over the bar read under it.
func TestWatchWaitsForLateEvents(t *testing.T) {
	const lag = 10 * time.Second
	tests := []struct {
		name     string
		finished time.Time
	}{
		{name: "finished just after a bucket started", finished: time.Date(2026, 3, 4, 10, 2, 0, 500e6, time.UTC)},
		{name: "finished mid-bucket", finished: time.Date(2026, 3, 4, 10, 2, 30, 0, time.UTC)},
		{name: "finished on a bucket's start", finished: time.Date(2026, 3, 4, 10, 2, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := tt.finished.Add(-2 * time.Minute)
			deployed := alignDown(tt.finished, time.Minute)
			clk := testclock.New(tt.finished)
			// 12 errors a minute before the deploy, 40 after (threshold
			// 36), evenly spread; an answer counts only the events
			// that happened lag before it or earlier.
			r := bucketsFunc(func(start, end time.Time) []Bucket {
				seen := clk.Now().Add(-lag)
				var bs []Bucket
				for b := alignDown(start, time.Minute); !b.Add(time.Minute).After(end); b = b.Add(time.Minute) {
					perMinute := 12.0
					if !b.Before(deployed) {
						perMinute = 40
					}
					counted := min(max(seen.Sub(b), 0), time.Minute)
					bs = append(bs, Bucket{Start: b, Count: int(perMinute * counted.Seconds() / 60)})
				}
				return bs
			})
			var spikes []SpikeReport
			w := &Watch{Reader: r, Org: "acme", Now: clk.Now, Sleep: clk.Sleep,
				Policy:  Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 10 * time.Minute},
				OnSpike: func(s SpikeReport) { spikes = append(spikes, s) }}
			if err := w.Run(context.Background(), Target{App: "web", Env: "production", Build: "2", Project: "web", Started: started, Finished: tt.finished}); err != nil {
				t.Fatal(err)
			}
			if len(spikes) != 1 {
				t.Fatalf("spikes: got %d, want 1 (40 a minute against 12)", len(spikes))
			}
			if s := spikes[0]; s.Rate != 40 || s.Baseline != 12 || !s.At.Equal(deployed.Add(2*time.Minute)) {
				t.Errorf("spike: got rate %v baseline %v at %v, want 40, 12, %v", s.Rate, s.Baseline, s.At, deployed.Add(2*time.Minute))
			}
		})
	}
}

// TestWatchResumes: a watch stopped (its bot stopped) and run again from
// its last Progress judges each interval once, keeps its baseline, its
// run of intervals over the bar and its inconclusive report, and reads
// the intervals that ended while it was stopped in one read.
func TestWatchResumes(t *testing.T) {
	p := Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 10 * time.Minute}
	// The deploy finished at 10:02:30: minute 0 is 10:02, the last
	// interval judged is 10:11, read at 10:12:30.
	minute := func(m int) time.Time { return alignDown(deployEnd, time.Minute).Add(time.Duration(m) * time.Minute) }
	high := func(ms ...int) series {
		return after(10, func(m int) int {
			if slices.Contains(ms, m) {
				return 50
			}
			return 10
		})
	}
	failing := func(calls ...int) func(int) error {
		return func(call int) error {
			if slices.Contains(calls, call) {
				return errSentry500
			}
			return nil
		}
	}
	tests := []struct {
		name string
		s    series
		// stopAfter is how many reads (the baseline's first) the watch
		// makes before its bot stops; from, when set, is where it
		// stopped instead.
		stopAfter int
		from      *Progress
		fail      func(call int) error // of the first run
		// resumeAt is when the watch is run again; zero: at once.
		resumeAt   time.Time
		failResume func(call int) error
		// wantReads are the starts of the resumed run's reads.
		wantReads        []time.Time
		wantSpikeAt      time.Time // zero: no spike
		wantInconclusive int       // reports of both runs together
		wantQuiet        bool
	}{
		{
			name: "a run over the bar goes on across the stop",
			// Minute 2 is over the bar before the stop, 3 after: a
			// spike of two intervals in a row.
			s: high(2, 3), stopAfter: 4,
			wantReads:   []time.Time{minute(3)},
			wantSpikeAt: minute(4),
		},
		{
			name: "intervals that ended while it was stopped are read together",
			s:    high(5, 6), stopAfter: 2,
			resumeAt:    time.Date(2026, 3, 4, 10, 10, 0, 0, time.UTC),
			wantReads:   []time.Time{minute(1)},
			wantSpikeAt: minute(7),
		},
		{
			name: "intervals that ended while it was stopped are quiet",
			s:    high(), stopAfter: 2,
			resumeAt:  time.Date(2026, 3, 4, 10, 10, 0, 0, time.UTC),
			wantReads: []time.Time{minute(1), minute(7), minute(8), minute(9)},
			wantQuiet: true,
		},
		{
			name: "stopped before the first interval: the baseline is kept",
			s:    high(), stopAfter: 1,
			wantReads: []time.Time{minute(0), minute(1), minute(2), minute(3), minute(4), minute(5), minute(6), minute(7), minute(8), minute(9)},
			wantQuiet: true,
		},
		{
			name: "inconclusive data is reported once",
			s:    high(), stopAfter: 3, fail: failing(1),
			failResume: failing(0),
			// Minutes 0 and 1 were read together before the stop.
			wantReads:        []time.Time{minute(2), minute(2), minute(4), minute(5), minute(6), minute(7), minute(8), minute(9)},
			wantInconclusive: 1,
			wantQuiet:        true,
		},
		{
			// Said before the stop, the baseline Sentry fails to give is
			// not said again by the bot that goes on with the watch.
			name: "a baseline that failed is reported once",
			s:    high(), stopAfter: 2, fail: failing(0, 1),
			failResume: failing(0),
			wantReads: []time.Time{deployStart.Add(-time.Hour), deployStart.Add(-time.Hour),
				minute(0), minute(1), minute(2), minute(3), minute(4), minute(5), minute(6), minute(7), minute(8), minute(9)},
			wantInconclusive: 1,
			wantQuiet:        true,
		},
		{
			name:      "stopped once every interval was judged",
			s:         high(),
			from:      &Progress{Based: true, Baseline: 10, Next: minute(10), Observed: 10},
			wantQuiet: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testclock.New(deployEnd)
			target := Target{App: "shop", Env: "production", Build: "1.2.3", Project: "shop-web", Started: deployStart, Finished: deployEnd}
			var o outcome
			from := Progress{}
			if tt.from != nil {
				from = *tt.from
			} else {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				r := &fakeReader{s: tt.s, fail: tt.fail}
				first := &Watch{Reader: r, Org: "acme", Policy: p, Now: clock.Now,
					Sleep: func(ctx context.Context, d time.Duration) error {
						if r.calls == tt.stopAfter {
							cancel() // the bot stops
						}
						return clock.Sleep(ctx, d)
					},
					OnSpike:        func(s SpikeReport) { o.spikes = append(o.spikes, s) },
					OnInconclusive: func(reason string, _ bool) { o.inconclusive = append(o.inconclusive, reason) },
					OnQuiet:        func() { o.quiet++ },
					OnProgress:     func(p Progress) { from = p },
				}
				if err := first.Run(ctx, target); !errors.Is(err, context.Canceled) {
					t.Fatalf("first run: got %v, want it stopped", err)
				}
			}
			if clock.Now().Before(tt.resumeAt) {
				clock.Set(tt.resumeAt)
			}
			var reads []time.Time
			r := &fakeReader{s: tt.s, fail: tt.failResume}
			resumed := &Watch{Reader: readsFunc{r, func(start time.Time) { reads = append(reads, start) }}, Org: "acme", Policy: p, Now: clock.Now, Sleep: clock.Sleep,
				OnSpike:        func(s SpikeReport) { o.spikes = append(o.spikes, s) },
				OnInconclusive: func(reason string, _ bool) { o.inconclusive = append(o.inconclusive, reason) },
				OnQuiet:        func() { o.quiet++ },
			}
			if err := resumed.RunFrom(context.Background(), target, from); err != nil {
				t.Fatalf("RunFrom: %v", err)
			}
			if !slices.Equal(reads, tt.wantReads) {
				t.Errorf("reads of the resumed watch from: got %v, want %v", reads, tt.wantReads)
			}
			switch {
			case tt.wantSpikeAt.IsZero() && len(o.spikes) > 0:
				t.Errorf("spikes: got %+v, want none", o.spikes)
			case !tt.wantSpikeAt.IsZero() && (len(o.spikes) != 1 || !o.spikes[0].At.Equal(tt.wantSpikeAt) || o.spikes[0].Baseline != 10):
				t.Errorf("spikes: got %+v, want one at %v against a baseline of 10", o.spikes, tt.wantSpikeAt)
			}
			if len(o.inconclusive) != tt.wantInconclusive {
				t.Errorf("inconclusive: got %q, want %d reports", o.inconclusive, tt.wantInconclusive)
			}
			if got := o.quiet == 1; got != tt.wantQuiet || o.quiet > 1 {
				t.Errorf("quiet: called %d times, want quiet=%v", o.quiet, tt.wantQuiet)
			}
		})
	}
}

// TestWatchSchedule: Schedule says what Run judges.
func TestWatchSchedule(t *testing.T) {
	from, to, last := Policy{Interval: time.Minute, Watch: 10 * time.Minute}.Schedule(deployEnd)
	want := []time.Time{time.Date(2026, 3, 4, 10, 2, 0, 0, time.UTC), time.Date(2026, 3, 4, 10, 12, 0, 0, time.UTC), time.Date(2026, 3, 4, 10, 12, 30, 0, time.UTC)}
	if got := []time.Time{from, to, last}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// readsFunc is a Reader that tells seen the start of every read of error
// counts.
type readsFunc struct {
	Reader
	seen func(start time.Time)
}

func (r readsFunc) ErrorCounts(ctx context.Context, org, project, env string, start, end time.Time, iv time.Duration) ([]Bucket, error) {
	r.seen(start)
	return r.Reader.ErrorCounts(ctx, org, project, env, start, end, iv)
}

// TestSpikeExactlyAtTheThreshold: a rate of exactly factor × the baseline
// is a spike (the bar is inclusive), whatever the rounding of the rates
// computed from Sentry's counts. 124 events in the hour before the deploy
// is 124/60 a minute; three times that is 6.2 a minute, 31 events in 5
// minutes, which float arithmetic put a hair under 3 × (124/60).
func TestSpikeExactlyAtTheThreshold(t *testing.T) {
	started := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	finished := started.Add(2*time.Minute + 30*time.Second)
	tests := []struct {
		name     string
		policy   Policy
		baseline []int // counts of the intervals of the hour before the deploy
		after    int   // count of each interval after it
	}{
		{"factor 3, 5m", Policy{Factor: 3, Interval: 5 * time.Minute}, []int{14, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}, 31},
		{"factor 1.5, 5m", Policy{Factor: 1.5, Interval: 5 * time.Minute}, []int{28, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20}, 31},
		{"factor 1.5, 10m", Policy{Factor: 1.5, Interval: 10 * time.Minute}, []int{48, 40, 40, 40, 40, 40}, 62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := tt.policy.Interval
			p := tt.policy
			p.Watch = 4 * iv
			p.Consecutive = 2
			r := bucketsFunc(func(start, end time.Time) []Bucket {
				var bs []Bucket
				for b := alignDown(start, iv); !b.Add(iv).After(end); b = b.Add(iv) {
					n := tt.after
					if i := len(tt.baseline) - int(started.Sub(b)/iv); b.Before(started) {
						n = 0
						if i >= 0 && i < len(tt.baseline) {
							n = tt.baseline[i]
						}
					}
					bs = append(bs, Bucket{Start: b, Count: n})
				}
				return bs
			})
			clk := testclock.New(finished)
			var spikes []SpikeReport
			w := &Watch{Reader: r, Org: "acme", Policy: p, Now: clk.Now, Sleep: clk.Sleep,
				OnSpike: func(s SpikeReport) { spikes = append(spikes, s) }}
			if err := w.Run(context.Background(), Target{App: "web", Env: "production", Build: "2", Project: "web", Started: started, Finished: finished}); err != nil {
				t.Fatal(err)
			}
			if len(spikes) != 1 {
				t.Fatalf("spikes: got %d, want 1 (rate %v a minute, factor %v)", len(spikes),
					float64(tt.after)/iv.Minutes(), p.Factor)
			}
			if got, want := fmt.Sprintf("%.4f", spikes[0].Rate), fmt.Sprintf("%.4f", spikes[0].Threshold); got != want {
				t.Errorf("rate %s, threshold %s: want the rate at the threshold", got, want)
			}
		})
	}
}

// TestBaselineReadAgain: a baseline Sentry failed to give is read again,
// and OnInconclusive says whether the watch goes on: once for the
// failure, ended false, and once more, ended true, if the answer that
// comes then has too few intervals to judge against.
func TestBaselineReadAgain(t *testing.T) {
	failFirst := func(call int) error {
		if call == 0 {
			return errSentry500
		}
		return nil
	}
	tests := []struct {
		name   string
		reader *fakeReader
		want   []string
	}{
		{
			name:   "failed, then read",
			reader: &fakeReader{s: flat(10), fail: failFirst},
			want:   []string{"false: cannot read the error rate before the deploy"},
		},
		{
			name:   "failed, then too few intervals",
			reader: &fakeReader{s: flat(10), fail: failFirst, empty: func(call int) bool { return call == 1 }},
			want:   []string{"false: cannot read the error rate before the deploy", "true: Sentry returned error counts for 0 of the 60 intervals"},
		},
		{
			// A refusal does not pass: asking again only repeats it.
			name: "refused",
			reader: &fakeReader{s: flat(10), fail: func(int) error {
				return errs.Wrap(errs.Forbidden, &Error{Status: 403, Attempts: 1}, "Sentry refused the auth token (check its scopes) (count errors of shop-web)")
			}},
			want: []string{"true: cannot read the error rate before the deploy: Sentry refused the auth token"},
		},
		{
			name:   "too few intervals at once",
			reader: &fakeReader{s: flat(10), empty: func(call int) bool { return call == 0 }},
			want:   []string{"true: Sentry returned error counts for 0 of the 60 intervals"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testclock.New(deployEnd)
			var got []string
			w := &Watch{Reader: tt.reader, Org: "acme", Now: clock.Now, Sleep: clock.Sleep,
				Policy:         Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 10 * time.Minute},
				OnInconclusive: func(reason string, ended bool) { got = append(got, fmt.Sprintf("%v: %s", ended, reason)) }}
			if err := w.Run(context.Background(), Target{App: "shop", Env: "production", Build: "1.2.3", Project: "shop-web", Started: deployStart, Finished: deployEnd}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("inconclusive: got %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("inconclusive[%d]: got %q, want it to start with %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestSpikeIssuesUnlisted: a spike whose new issues Sentry would not list
// says why, so that it is not told as a release without new issues.
func TestSpikeIssuesUnlisted(t *testing.T) {
	spiking := after(10, func(m int) int { return 60 })
	tests := []struct {
		name      string
		issuesErr error
		want      string
	}{
		{"listed", nil, ""},
		{"refused", errs.Wrap(errs.Forbidden, &Error{Status: 403, Attempts: 1}, "Sentry refused the auth token (check its scopes) (list new issues of shop@1.2.3)"),
			"Sentry refused the auth token (check its scopes) (list new issues of shop@1.2.3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := runWatch(t, &fakeReader{s: spiking, issuesErr: tt.issuesErr}, Policy{Interval: time.Minute, Watch: 5 * time.Minute})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(o.spikes) != 1 {
				t.Fatalf("spikes: got %d, want 1", len(o.spikes))
			}
			if got := o.spikes[0].IssuesErr; got != tt.want {
				t.Errorf("IssuesErr: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWatchEndsUnjudged: a watch whose last reads fail, after an
// inconclusive report said once already, or whose baseline never came,
// says at its end which intervals it never judged, and is not quiet.
func TestWatchEndsUnjudged(t *testing.T) {
	p := Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 10 * time.Minute}
	// Calls: 0 is the baseline, 1…10 the reads of 10:02 … 10:11 (UTC).
	failing := func(calls ...int) func(int) error {
		return func(call int) error {
			if slices.Contains(calls, call) {
				return errSentry500
			}
			return nil
		}
	}
	at := func(m int) time.Time { return time.Date(2026, 3, 4, 10, m, 0, 0, time.UTC) }
	tests := []struct {
		name         string
		reader       *fakeReader
		inconclusive int
		want         string // "" for no OnUnjudged
		quiet        bool
	}{
		{"every interval judged", &fakeReader{s: flat(10)}, 0, "", true},
		{"the last two reads fail after an earlier failure", &fakeReader{s: flat(10), fail: failing(2, 9, 10)}, 1,
			fmt.Sprintf("%v–%v based", at(10), at(12)), false},
		{"only the last read fails", &fakeReader{s: flat(10), fail: failing(10)}, 1,
			fmt.Sprintf("%v–%v based", at(11), at(12)), false},
		{"a failure made up for by the last read", &fakeReader{s: flat(10), fail: failing(2, 9)}, 1, "", true},
		{"the last read finds nothing new", &fakeReader{s: flat(10), fail: failing(2), empty: func(call int) bool { return call == 10 }}, 1,
			fmt.Sprintf("%v–%v based", at(11), at(12)), false},
		{"every read after the deploy fails", &fakeReader{s: flat(10), fail: func(call int) error {
			if call > 0 {
				return errSentry500
			}
			return nil
		}}, 1, fmt.Sprintf("%v–%v based", at(2), at(12)), false},
		{"no baseline ever", &fakeReader{s: flat(10), fail: func(int) error { return errSentry500 }}, 1,
			fmt.Sprintf("%v–%v unbased", at(2), at(12)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := runWatch(t, tt.reader, p)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(o.inconclusive) != tt.inconclusive {
				t.Errorf("inconclusive: got %q, want %d", o.inconclusive, tt.inconclusive)
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if !slices.Equal(o.unjudged, want) {
				t.Errorf("unjudged: got %q, want %q", o.unjudged, want)
			}
			if got := o.quiet == 1; got != tt.quiet || o.quiet > 1 {
				t.Errorf("quiet: called %d times, want quiet=%v", o.quiet, tt.quiet)
			}
			if len(o.spikes) != 0 {
				t.Errorf("spikes: got %+v, want none", o.spikes)
			}
		})
	}
}

// TestWatchBaselineBefore: a rollback's watch reads its baseline before
// the deploy it rolled back, not before itself: the hour before the
// rollback holds the spike it answered, and a spike that goes on hides in
// it (60 a minute for the 30 minutes before the rollback make a baseline
// of 30.5 a minute, whose bar 60 a minute stays under).
func TestWatchBaselineBefore(t *testing.T) {
	deployed := deployStart.Add(-30 * time.Minute) // the deploy rolled back; deployStart is the rollback's
	// 1 a minute before the deploy, 60 a minute from it on.
	s := func(m int) int {
		if alignDown(deployEnd, time.Minute).Add(time.Duration(m) * time.Minute).Before(deployed) {
			return 1
		}
		return 60
	}
	tests := []struct {
		name      string
		before    time.Time
		wantFrom  time.Time // the baseline read's start
		wantSpike bool
	}{
		{"before the deploy rolled back", deployed, deployed.Add(-time.Hour), true},
		{"unset: before the run watched", time.Time{}, deployStart.Add(-time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testclock.New(deployEnd)
			var starts []time.Time
			var spikes []SpikeReport
			w := &Watch{Reader: readsFunc{Reader: &fakeReader{s: s}, seen: func(start time.Time) { starts = append(starts, start) }},
				Org: "acme", Now: clock.Now, Sleep: clock.Sleep,
				Policy:  Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 10 * time.Minute},
				OnSpike: func(s SpikeReport) { spikes = append(spikes, s) }}
			err := w.Run(context.Background(), Target{App: "shop", Env: "production", Build: "1.2.2", Project: "shop-web",
				Started: deployStart, Finished: deployEnd, BaselineBefore: tt.before})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(starts) == 0 || !starts[0].Equal(tt.wantFrom) {
				t.Fatalf("baseline read from: got %v, want %v", starts, tt.wantFrom)
			}
			if got := len(spikes) == 1; got != tt.wantSpike {
				t.Fatalf("spikes: got %+v, want spike=%v", spikes, tt.wantSpike)
			}
			if tt.wantSpike && (spikes[0].Baseline != 1 || !spikes[0].BaselineBefore.Equal(deployed)) {
				t.Errorf("spike: got baseline %v before %v, want 1 before %v", spikes[0].Baseline, spikes[0].BaselineBefore, deployed)
			}
		})
	}
}

// TestWatchRunSurvivesAnUnreadInterval: a read that judges no interval
// (Sentry failing, rate limiting the bot, or answering before it has the
// interval's count) is no interval: the next read judges the ones it did
// not give, in their order, and two over the bar around it are two in a
// row. Only an interval missing from an answer that holds a later one is
// a gap. Minutes 3 and 4 after the deploy are at 80 a minute against 10
// before; the read of minute 4 (the sixth of events-stats: the baseline,
// then one per minute) is the one that gives nothing.
func TestWatchRunSurvivesAnUnreadInterval(t *testing.T) {
	s := after(10, func(m int) int {
		if m == 3 || m == 4 {
			return 80
		}
		return 10
	})
	points := statsPoints(s)
	tests := []struct {
		name   string
		unread http.HandlerFunc
		reason string
	}{
		{"Sentry failing", reply(500, `{"detail":"Internal Error"}`), "Sentry is failing"},
		{"rate limited", reply(429, `{"detail":"Too many requests"}`, "Retry-After", "3600"), "Sentry is rate limiting the bot"},
		{"not counted yet", reply(200, `{"data":[]}`), "Sentry returned no error counts after 11:06 CET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
			var mu sync.Mutex
			call := 0
			f.handle("GET", "/api/0/organizations/acme/events-stats/", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				call++
				n := call
				mu.Unlock()
				if n == 6 {
					tt.unread(w, r)
					return
				}
				points(w, r)
			})
			f.handle("GET", "/api/0/organizations/acme/issues/", reply(200, `[]`))
			c := newTestClient(t, f, &sleeps{}, func(o *Options) { o.Attempts = 1 })
			o, err := runWatch(t, c, Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 10 * time.Minute})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(o.inconclusive) != 1 || !strings.Contains(o.inconclusive[0], tt.reason) {
				t.Errorf("inconclusive: got %q, want one report containing %q", o.inconclusive, tt.reason)
			}
			if len(o.spikes) != 1 {
				t.Fatalf("spikes: got %d (quiet %d), want 1: minutes 3 and 4 were both over the bar", len(o.spikes), o.quiet)
			}
			if got, want := o.spikes[0].At, deployEnd.Truncate(time.Minute).Add(5*time.Minute); !got.Equal(want) || o.spikes[0].Rate != 80 {
				t.Errorf("spike: got rate %v at %v, want 80 at %v", o.spikes[0].Rate, got, want)
			}
		})
	}
}

// statsPoints answers events-stats from s at 1m, as Sentry does: aligned,
// zero-filled points of [start, end).
func statsPoints(s series) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		start, err1 := time.Parse("2006-01-02T15:04:05", q.Get("start"))
		end, err2 := time.Parse("2006-01-02T15:04:05", q.Get("end"))
		if err1 != nil || err2 != nil || q.Get("interval") != "1m" {
			http.Error(w, `{"detail":"bad query"}`, 400)
			return
		}
		data := [][]any{}
		for _, b := range zeroFill(start, end, time.Minute, s) {
			data = append(data, []any{b.Start.Unix(), []map[string]int{{"count": b.Count}}})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data, "start": start.Unix(), "end": end.Unix()})
	}
}

// TestSpikeIssuesBounded: the spike, and the automatic rollback after it,
// wait for the list of its new issues no longer than DefaultIssueTimeout,
// however long the client's retries would take: Sentry rate limiting its
// issue search asked for 30 s before each of three retries, and the
// rollback came a minute and a half late for a list that only helps
// people read the spike.
func TestSpikeIssuesBounded(t *testing.T) {
	tests := []struct {
		name   string
		issues http.HandlerFunc
		want   string
	}{
		{"rate limited", reply(429, `{"detail":"You are attempting to use this endpoint too frequently. Limit is 5 requests in 1 seconds"}`, "Retry-After", "30"),
			"Sentry is rate limiting the bot (list new issues of shop@1.2.3)"},
		{"rate limited until a reset", func(w http.ResponseWriter, r *http.Request) {
			reset := strconv.FormatInt(time.Now().Add(40*time.Second).Unix(), 10)
			reply(429, `{"detail":"Too many requests"}`, "X-Sentry-Rate-Limit-Reset", reset)(w, r)
		}, "Sentry is rate limiting the bot (list new issues of shop@1.2.3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
			f.handle("GET", "/api/0/organizations/acme/events-stats/", statsPoints(after(10, func(int) int { return 60 })))
			f.handle("GET", "/api/0/organizations/acme/issues/", tt.issues)
			waits := &sleeps{}
			c := newTestClient(t, f, waits)
			start := time.Now()
			o, err := runWatch(t, c, Policy{Interval: time.Minute, Watch: 5 * time.Minute})
			took := time.Since(start)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(o.spikes) != 1 {
				t.Fatalf("spikes: got %d, want 1", len(o.spikes))
			}
			if got := o.spikes[0].IssuesErr; got != tt.want {
				t.Errorf("IssuesErr: got %q, want %q", got, tt.want)
			}
			var waited time.Duration
			for _, d := range waits.got() {
				waited += d
			}
			if waited+took > DefaultIssueTimeout {
				t.Errorf("the spike waited %v for its issues (%v asked of the clock, %v run), want at most %v", waited+took, waited, took, DefaultIssueTimeout)
			}
		})
	}
}

// TestHugeFactorNeverSpikes: a factor so large that factor × the
// baseline overflows to +Inf (1e306 against 1000 errors a minute) is a bar
// no rate reaches. The tolerance of the comparison, Inf − rate > Inf ×
// 1e-12, was false there, so every interval read as over the bar: a
// factor written to make spikes all but impossible made every deploy with
// errors a spike, and with auto_rollback rolled each one back.
func TestHugeFactorNeverSpikes(t *testing.T) {
	tests := []struct {
		name   string
		factor float64
		after  int // errors a minute after the deploy, 1000 before
		spikes int
	}{
		{"overflowing bar, same rate", 1e306, 1000, 0},
		{"overflowing bar, higher rate", 1e306, 100000, 0},
		{"largest factor", math.MaxFloat64, 1000, 0},
		{"usual factor, higher rate", 3, 100000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
			f.handle("GET", "/api/0/organizations/acme/events-stats/", statsPoints(after(1000, func(int) int { return tt.after })))
			f.handle("GET", "/api/0/organizations/acme/issues/", reply(200, `[]`))
			c := newTestClient(t, f, &sleeps{})
			o, err := runWatch(t, c, Policy{Factor: tt.factor, Interval: time.Minute, Watch: 5 * time.Minute})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(o.spikes) != tt.spikes {
				t.Errorf("spikes: got %d, want %d (%+v)", len(o.spikes), tt.spikes, o.spikes)
			}
			if tt.spikes == 0 && o.quiet != 1 {
				t.Errorf("quiet ends: got %d, want 1 (inconclusive %q, unjudged %q)", o.quiet, o.inconclusive, o.unjudged)
			}
		})
	}
}
