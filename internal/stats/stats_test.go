package stats

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// at is 2026-03-DD hh:mm UTC.
func at(dd, hh, mm int) time.Time { return time.Date(2026, 3, dd, hh, mm, 0, 0, time.UTC) }

func rec(kind deploy.Kind, app, env string, started, finished time.Time, o deploy.Outcome) *deploy.Record {
	return &deploy.Record{Kind: kind, App: app, Env: env, Started: started, Finished: finished, Outcome: o}
}

func dep(app, env string, started time.Time, minutes int, o deploy.Outcome) *deploy.Record {
	var fin time.Time
	if o.Done() {
		fin = started.Add(time.Duration(minutes) * time.Minute)
	}
	return rec(deploy.KindDeploy, app, env, started, fin, o)
}

func rb(app, env string, started time.Time, minutes int, o deploy.Outcome) *deploy.Record {
	r := dep(app, env, started, minutes, o)
	r.Kind = deploy.KindRollback
	return r
}

// build sets r's release: for a rollback, the one it goes back to.
func build(r *deploy.Record, b string) *deploy.Record {
	r.Build = b
	return r
}

const (
	ok          = deploy.OutcomeSucceeded
	failedO     = deploy.OutcomeFailed
	reverted    = deploy.OutcomeReverted
	partial     = deploy.OutcomePartial
	cancelled   = deploy.OutcomeCancelled
	interrupted = deploy.OutcomeInterrupted
	running     = deploy.OutcomeRunning
)

// history is a seeded week of three app/envs; the comments give the
// verdict each record should get. now is 2026-03-15 12:00, the window the 7
// days before.
func history() ([]*deploy.Record, []Spike) {
	recs := []*deploy.Record{
		// shop/production
		dep("shop", "production", at(7, 10, 0), 2, ok),        // before the window
		dep("shop", "production", at(9, 10, 0), 4, ok),        // P1: rolled back → failure, restored by the rollback in 27m
		rb("shop", "production", at(9, 10, 30), 1, ok),        //     rollback of P1
		dep("shop", "production", at(10, 9, 0), 5, failedO),   // P2: failed → restored by P3 (11:03) in 1h58m
		dep("shop", "production", at(10, 11, 0), 3, ok),       // P3: fine
		dep("shop", "production", at(12, 14, 0), 6, reverted), // P4: reverted → restored by P5 (15:02) in 56m
		dep("shop", "production", at(12, 15, 0), 2, ok),       // P5: spike at 15:10 → restored by P6 in 19h08m
		dep("shop", "production", at(13, 10, 0), 10, ok),      // P6: spike on the 14th, after a cancelled attempt → restored by P7 in 29h53m
		dep("shop", "production", at(14, 9, 0), 0, cancelled), //     not counted, and does not replace P6
		dep("shop", "production", at(14, 16, 0), 3, ok),       // P7: fine
		dep("shop", "production", at(15, 9, 0), 4, partial),   // P8: partial is not a failure
		dep("shop", "production", at(15, 11, 58), 0, running), //     running: not counted
		dep("shop", "production", at(15, 12, 0), 1, ok),       //     starts at now: outside the window
		// shop/staging
		dep("shop", "staging", at(11, 8, 0), 1, ok),     // S1: a rollback was tried (and failed) → restored by S2 in 4h01m
		rb("shop", "staging", at(11, 9, 0), 1, failedO), //     failed rollback of S1
		dep("shop", "staging", at(11, 12, 0), 2, ok),    // S2: fine
		// blog/production
		dep("blog", "production", at(8, 11, 0), 1, ok),            // before the window (by an hour)
		rb("blog", "production", at(8, 13, 0), 1, ok),             //     its rollback is in the window
		dep("blog", "production", at(13, 20, 0), 20, interrupted), // B2: interrupted, never restored
		nil,
	}
	spikes := []Spike{
		{App: "shop", Env: "production", At: at(12, 15, 10)},
		{App: "shop", Env: "production", At: at(14, 9, 30)},
		{App: "shop", Env: "staging", At: at(7, 0, 0)},    // before anything in the window
		{App: "blog", Env: "staging", At: at(13, 20, 30)}, // no such stream
	}
	return recs, spikes
}

func TestComputeSeededHistory(t *testing.T) {
	recs, spikes := history()
	now := at(15, 12, 0)
	got := Compute(recs, spikes, now, 7*24*time.Hour)

	mttr := (27 + 118 + 56 + 1148 + 1793 + 241) * time.Minute / 6 // 9h23m50s
	want := Report{
		From: at(8, 12, 0), To: now, Window: 7 * 24 * time.Hour,
		Deploys:           11,
		Rollbacks:         3,
		PerDay:            11.0 / 7,
		MedianDuration:    210 * time.Second, // of 1 2 2 3 3 4 4 5 6 10: B2 was interrupted
		P90Duration:       6 * time.Minute,   // rank ⌈9⌉ = 9
		Timed:             10,
		Failures:          7, // P1 P2 P4 P5 P6 S1 B2
		ChangeFailureRate: 7.0 / 11,
		Restored:          6,
		Unrestored:        1,
		MTTR:              mttr,
		Daily:             []int{1, 2, 1, 1, 3, 1, 2},
		Sparkline:         "▄▆▄▄█▄▆",
	}
	if mttr != 9*time.Hour+23*time.Minute+50*time.Second {
		t.Fatalf("test arithmetic: MTTR %v", mttr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report:\n got %+v\nwant %+v", got, want)
	}
}

func TestCompute(t *testing.T) {
	now := at(15, 12, 0)
	week := 7 * 24 * time.Hour
	tests := []struct {
		name    string
		records []*deploy.Record
		spikes  []Spike
		window  time.Duration
		check   func(t *testing.T, r Report)
	}{
		{
			name: "empty", window: week,
			check: func(t *testing.T, r Report) {
				want := Report{From: at(8, 12, 0), To: now, Window: week, Daily: make([]int, 7), Sparkline: "▁▁▁▁▁▁▁"}
				if !reflect.DeepEqual(r, want) {
					t.Errorf("got %+v, want %+v", r, want)
				}
			},
		},
		{
			name: "default window is 30 days", window: 0,
			records: []*deploy.Record{dep("a", "p", at(1, 0, 0), 1, ok), dep("a", "p", now.Add(-31*24*time.Hour), 1, ok)},
			check: func(t *testing.T, r Report) {
				if r.Window != 30*24*time.Hour || len(r.Daily) != 30 || r.Deploys != 1 {
					t.Errorf("got window %v, %d days, %d deploys; want 30 days and 1 deploy", r.Window, len(r.Daily), r.Deploys)
				}
			},
		},
		{
			name: "partial day window", window: 36 * time.Hour,
			records: []*deploy.Record{dep("a", "p", at(14, 0, 30), 1, ok), dep("a", "p", at(15, 0, 0), 1, ok), dep("a", "p", at(13, 23, 0), 1, ok)},
			check: func(t *testing.T, r Report) {
				if !reflect.DeepEqual(r.Daily, []int{1, 1}) || r.PerDay != 2.0/1.5 {
					t.Errorf("got daily %v per day %v, want [1 1] and %v", r.Daily, r.PerDay, 2.0/1.5)
				}
			},
		},
		{
			name: "rollback of the same env only", window: week,
			records: []*deploy.Record{
				dep("a", "production", at(10, 10, 0), 1, ok),
				rb("a", "staging", at(10, 10, 1), 1, ok),
				rb("b", "production", at(10, 10, 2), 1, ok),
			},
			check: func(t *testing.T, r Report) {
				if r.Failures != 0 || r.Rollbacks != 2 {
					t.Errorf("got %d failures, %d rollbacks; want 0 and 2", r.Failures, r.Rollbacks)
				}
			},
		},
		{
			// Rollbacks are counted as deploys are: a running one has no
			// outcome yet, and a cancelled one rolled nothing back. Either
			// still says someone judged the deploy before it bad.
			name: "running and cancelled rollbacks are not counted", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 1, ok),
				rb("a", "p", at(10, 10, 5), 1, cancelled),
				dep("b", "p", at(10, 10, 0), 1, ok),
				rb("b", "p", at(15, 11, 59), 0, running),
				dep("c", "p", at(10, 10, 0), 1, ok),
				rb("c", "p", at(10, 10, 5), 1, failedO),
				rb("c", "p", at(10, 10, 9), 1, interrupted),
			},
			check: func(t *testing.T, r Report) {
				if r.Rollbacks != 2 || r.Failures != 3 {
					t.Errorf("got %d rollbacks, %d failures; want 2 (the failed and the interrupted one) and 3", r.Rollbacks, r.Failures)
				}
			},
		},
		{
			name: "rollback after the next live deploy belongs to it", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 1, ok),
				dep("a", "p", at(10, 10, 1), 1, ok),
				rb("a", "p", at(10, 10, 2), 1, ok),
			},
			check: func(t *testing.T, r Report) {
				// Only the second deploy failed: it went live at 10:02 and
				// the rollback ended at 10:03.
				if r.Failures != 1 || r.MTTR != time.Minute {
					t.Errorf("got %d failures, MTTR %v; want 1 and 1m", r.Failures, r.MTTR)
				}
			},
		},
		{
			name: "rollback past a failed attempt still counts", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 1, ok),
				dep("a", "p", at(10, 10, 1), 1, failedO),
				rb("a", "p", at(10, 10, 2), 1, ok),
			},
			check: func(t *testing.T, r Report) {
				if r.Deploys != 2 || r.Failures != 2 || r.Restored != 2 {
					t.Errorf("got %d deploys, %d failures, %d restored; want 2, 2, 2", r.Deploys, r.Failures, r.Restored)
				}
			},
		},
		{
			name: "spike before the deploy is not its failure", window: week,
			records: []*deploy.Record{dep("a", "p", at(10, 10, 0), 1, ok)},
			spikes:  []Spike{{App: "a", Env: "p", At: at(10, 9, 59)}},
			check: func(t *testing.T, r Report) {
				if r.Failures != 0 {
					t.Errorf("got %d failures, want 0", r.Failures)
				}
			},
		},
		{
			name: "spike during the deploy is", window: week,
			records: []*deploy.Record{dep("a", "p", at(10, 10, 0), 5, ok), dep("a", "p", at(10, 10, 1), 5, ok)},
			spikes:  []Spike{{App: "a", Env: "p", At: at(10, 10, 0).Add(30 * time.Second)}},
			check: func(t *testing.T, r Report) {
				if r.Failures != 1 || r.MTTR != time.Minute {
					t.Errorf("got %d failures, MTTR %v; want 1 and 1m", r.Failures, r.MTTR)
				}
			},
		},
		{
			name: "failed restore attempts are skipped", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 1, reverted),
				rb("a", "p", at(10, 10, 5), 1, failedO),
				dep("a", "p", at(10, 10, 10), 1, cancelled),
				rb("a", "p", at(10, 10, 12), 1, cancelled),
				dep("a", "p", at(10, 10, 14), 1, interrupted),
				dep("a", "p", at(10, 10, 20), 1, ok),
			},
			check: func(t *testing.T, r Report) {
				// The interrupted deploy is a failure of its own,
				// restored at 10:21 too, 7m after its start.
				if r.Failures != 2 || r.Restored != 2 || r.MTTR != (20+7)*time.Minute/2 {
					t.Errorf("got %d failures, %d restored, MTTR %v; want 2, 2 and 13m30s (10:01 → 10:21, 10:14 → 10:21)", r.Failures, r.Restored, r.MTTR)
				}
			},
		},
		{
			// A run that ended partial puts its release live, as one
			// that succeeded does: most hosts run it, checked healthy.
			name: "a partial deploy restores", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 1, reverted),
				dep("a", "p", at(10, 10, 10), 1, partial),
				dep("a", "p", at(10, 10, 20), 1, ok),
			},
			check: func(t *testing.T, r Report) {
				if r.Failures != 1 || r.Restored != 1 || r.Unrestored != 0 || r.MTTR != 10*time.Minute {
					t.Errorf("got %d failures, %d restored, %d unrestored, MTTR %v; want 1, 1, 0 and 10m (10:01 → 10:11)", r.Failures, r.Restored, r.Unrestored, r.MTTR)
				}
			},
		},
		{
			name: "a partial rollback restores", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 1, ok),
				rb("a", "p", at(10, 10, 5), 2, partial),
			},
			check: func(t *testing.T, r Report) {
				if r.Failures != 1 || r.Restored != 1 || r.MTTR != 6*time.Minute {
					t.Errorf("got %d failures, %d restored, MTTR %v; want 1, 1 and 6m (10:01 → 10:07)", r.Failures, r.Restored, r.MTTR)
				}
			},
		},
		{
			name: "unsorted input", window: week,
			records: []*deploy.Record{
				rb("a", "p", at(10, 10, 2), 1, ok),
				dep("a", "p", at(10, 10, 0), 1, ok),
			},
			check: func(t *testing.T, r Report) {
				if r.Failures != 1 || r.MTTR != 2*time.Minute {
					t.Errorf("got %d failures, MTTR %v; want 1 and 2m", r.Failures, r.MTTR)
				}
			},
		},
		{
			// A run that found every host on its release and changed
			// nothing (recorded as it resolved an interrupted one) is
			// neither a deploy nor a rollback: the deploy before it did
			// not fail.
			name: "a run that changed nothing", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 1, ok),
				dep("a", "p", at(10, 10, 5), 1, deploy.OutcomeUnchanged),
				rb("a", "p", at(10, 10, 6), 1, deploy.OutcomeUnchanged),
			},
			check: func(t *testing.T, r Report) {
				if r.Deploys != 1 || r.Rollbacks != 0 || r.Failures != 0 || r.Daily[1] != 1 {
					t.Errorf("got %d deploys (daily %v), %d rollbacks, %d failures; want 1, 0, 0", r.Deploys, r.Daily, r.Rollbacks, r.Failures)
				}
			},
		},
		{
			// A run recorded unchanged resolved an interrupted one: it
			// reached every host and found them all on its release, the
			// live release from then on, as one that succeeded would have
			// put it. It restores, deploy or rollback, without being
			// counted as either.
			name: "a run that changed nothing restores an interrupted deploy", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 3*60, interrupted),
				dep("a", "p", at(10, 13, 5), 1, deploy.OutcomeUnchanged),
				dep("b", "p", at(11, 10, 0), 60, interrupted),
				rb("b", "p", at(11, 11, 10), 2, deploy.OutcomeUnchanged),
			},
			check: func(t *testing.T, r Report) {
				if r.Deploys != 2 || r.Rollbacks != 0 || r.Failures != 2 || r.Restored != 2 || r.Unrestored != 0 ||
					r.MTTR != (3*time.Hour+6*time.Minute+72*time.Minute)/2 {
					t.Errorf("got %d deploys, %d rollbacks, %d failures, %d restored, %d unrestored, MTTR %v; want 2, 0, 2, 2, 0 and 2h9m (10:00 → 13:06, 10:00 → 11:12)",
						r.Deploys, r.Rollbacks, r.Failures, r.Restored, r.Unrestored, r.MTTR)
				}
				if !reflect.DeepEqual(r.Daily, []int{0, 1, 1, 0, 0, 0, 0}) {
					t.Errorf("got daily %v, want [0 1 1 0 0 0 0]", r.Daily)
				}
			},
		},
		{
			// A deploy recorded unchanged found every host on its release
			// as it resolved an interrupted one: that release is live from
			// then on, as if the deploy had succeeded. A spike or a
			// rollback after it is no judgement of the deploy that was live
			// before the interrupted one.
			name: "a deploy that changed nothing ends the window of the one before", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 1, ok),
				dep("a", "p", at(10, 10, 10), 5, interrupted),
				dep("a", "p", at(10, 10, 30), 1, deploy.OutcomeUnchanged),
				rb("a", "p", at(10, 11, 30), 1, ok),
				dep("b", "p", at(11, 10, 0), 1, ok),
				dep("b", "p", at(11, 10, 10), 5, interrupted),
				dep("b", "p", at(11, 10, 30), 1, deploy.OutcomeUnchanged),
			},
			spikes: []Spike{{App: "b", Env: "p", At: at(11, 11, 0)}},
			check: func(t *testing.T, r Report) {
				// Only the interrupted deploys failed, each restored by
				// the unchanged run 21m after its start.
				if r.Deploys != 4 || r.Failures != 2 || r.Restored != 2 || r.MTTR != 21*time.Minute {
					t.Errorf("got %d deploys, %d failures, %d restored, MTTR %v; want 4, 2, 2 and 21m (10:10 → 10:31)",
						r.Deploys, r.Failures, r.Restored, r.MTTR)
				}
			},
		},
		{
			// The rollback that undoes an interrupted deploy goes back to
			// the release of the deploy before it: that judges the
			// interrupted deploy, not the one whose release it restores.
			// One that goes further back judges both.
			name: "a rollback to a deploy's release is no failure of it", window: week,
			records: []*deploy.Record{
				build(dep("a", "p", at(10, 10, 0), 1, ok), "2"),
				build(dep("a", "p", at(10, 10, 10), 5, interrupted), "3"),
				build(rb("a", "p", at(10, 10, 30), 2, ok), "2"),
				build(dep("b", "p", at(11, 10, 0), 1, ok), "2"),
				build(dep("b", "p", at(11, 10, 10), 5, interrupted), "3"),
				build(rb("b", "p", at(11, 10, 30), 2, ok), "1"),
			},
			check: func(t *testing.T, r Report) {
				// a's interrupted deploy is restored 22m after its start;
				// b's two failures at 10:32, 22m and 31m after theirs.
				if r.Deploys != 4 || r.Failures != 3 || r.Restored != 3 || r.MTTR != (22+22+31)*time.Minute/3 {
					t.Errorf("got %d deploys, %d failures, %d restored, MTTR %v; want 4, 3, 3 and 25m",
						r.Deploys, r.Failures, r.Restored, r.MTTR)
				}
			},
		},
		{
			// Recovery ends an interrupted run when it finds it, which
			// may be days after its process died: that is no
			// deploy's duration.
			name: "an interrupted run is not timed", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 2*24*60, interrupted),
				dep("a", "p", at(12, 10, 0), 2, ok),
			},
			check: func(t *testing.T, r Report) {
				if r.Deploys != 2 || r.Timed != 1 || r.MedianDuration != 2*time.Minute || r.P90Duration != 2*time.Minute {
					t.Errorf("got %d deploys, %d timed, median %v p90 %v; want 2, 1, 2m and 2m", r.Deploys, r.Timed, r.MedianDuration, r.P90Duration)
				}
			},
		},
		{
			// Recovery ends an interrupted run when it finds it: the
			// time from its start is the time its app/env waited, the
			// only bound known of when it stopped.
			name: "an interrupted run is restored from its start", window: week,
			records: []*deploy.Record{
				dep("a", "p", at(10, 10, 0), 2*24*60, interrupted),
				dep("a", "p", at(12, 10, 5), 2, ok),
			},
			check: func(t *testing.T, r Report) {
				if r.Failures != 1 || r.Restored != 1 || r.MTTR != 48*time.Hour+7*time.Minute {
					t.Errorf("got %d failures, %d restored, MTTR %v; want 1, 1 and 48h7m", r.Failures, r.Restored, r.MTTR)
				}
			},
		},
		{
			name: "even count median", window: week,
			records: []*deploy.Record{dep("a", "p", at(10, 10, 0), 2, ok), dep("a", "p", at(10, 10, 1), 5, ok)},
			check: func(t *testing.T, r Report) {
				if r.MedianDuration != 210*time.Second || r.P90Duration != 5*time.Minute {
					t.Errorf("got median %v p90 %v, want 3m30s and 5m", r.MedianDuration, r.P90Duration)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, Compute(tt.records, tt.spikes, now, tt.window))
		})
	}
}

func TestSparkline(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0, 0, 0}, "▁▁▁"},
		{[]int{1}, "█"},
		{[]int{0, 1, 2, 3, 4, 5, 6, 7}, "▁▂▃▄▅▆▇█"},
		{[]int{1, 100}, "▂█"},
		{[]int{1, 2, 1, 1, 3, 1, 2}, "▄▆▄▄█▄▆"},
		{[]int{-1, 2}, "▁█"},
	}
	for _, tt := range tests {
		if got := Sparkline(tt.in); got != tt.want {
			t.Errorf("Sparkline(%v): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNearestRank(t *testing.T) {
	d := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n)
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.9, 0},
		{d(7), 0.9, 7},
		{d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9},
		{d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 0.9, 10},
		{d(1, 2), 0.5, 1},
		{d(1, 2), math.SmallestNonzeroFloat64, 1},
	}
	for _, tt := range tests {
		if got := nearestRank(tt.in, tt.p); got != tt.want {
			t.Errorf("nearestRank(%v, %v): got %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}
