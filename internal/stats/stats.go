// Package stats computes delivery metrics from the deploy history: how
// often the team deploys, how long deploys take, how often a change fails
// and how long it takes to restore service after one (the four DORA
// metrics, as far as the bot can see them), plus a sparkline of deploys per
// day for chat.
//
// Compute is pure: the caller loads the records (for one app, one env or
// everything) and passes the clock.
package stats

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// DefaultWindow is the window used when Compute is given none.
const DefaultWindow = 30 * day

const day = 24 * time.Hour

// Spike is an error spike Sentry showed for app/env at At (see
// sentry.Watch); it marks the deploy live at that moment as failed.
type Spike struct {
	App, Env string
	At       time.Time
}

// Report holds the metrics of a window of history.
type Report struct {
	// From and To bound the window: deploys that started in [From, To).
	From, To time.Time
	Window   time.Duration

	// Deploys counts the deploys in the window (see Compute for which
	// records count); Rollbacks the rollbacks started in it, counted as
	// deploys are.
	Deploys   int
	Rollbacks int
	// PerDay is Deploys per day of the window (deployment frequency).
	PerDay float64

	// MedianDuration and P90Duration are over the Timed deploys (the
	// median of an even count is the mean of the middle two; p90 is the
	// nearest rank). Zero without any.
	MedianDuration time.Duration
	P90Duration    time.Duration
	// Timed counts the counted deploys whose duration is known: all but
	// the interrupted ones, whose end is when recovery found them dead,
	// which may be days after they stopped.
	Timed int

	// Failures counts the counted deploys that are change failures;
	// ChangeFailureRate is Failures/Deploys (0 without deploys).
	Failures          int
	ChangeFailureRate float64

	// Restored counts the failures followed by a restore; MTTR is their
	// mean time to restore (0 when none was restored). Unrestored counts
	// failures with no restore yet.
	Restored   int
	Unrestored int
	MTTR       time.Duration

	// Daily counts deploys per day, oldest first: Daily[len-1] is the 24
	// hours before To, Daily[len-2] the 24 before those, and so on (rolling
	// days, so the report is the same in every time zone).
	Daily []int
	// Sparkline draws Daily with ▁▂▃▄▅▆▇█: ▁ for a day without deploys,
	// the busiest day █, other days scaled between ▂ and █.
	Sparkline string
}

type stream struct{ app, env string }

// Compute returns the metrics of records over the window ending at now
// (window ≤ 0 means DefaultWindow). The definitions:
//
//   - A deploy is a record that is not a rollback. It is counted when it
//     started in [now-window, now) and ended (its outcome is final) other
//     than cancelled: a running deploy has no outcome yet, and a cancelled
//     one was stopped on request with its hosts restored. Rollbacks are
//     counted likewise: a cancelled one rolled nothing back.
//   - A deploy goes live when it succeeds or ends partial (some hosts run
//     it), or is recorded unchanged (it found every host on its release as
//     it resolved an interrupted run). "The next live deploy" of a deploy
//     D is the first later deploy of the same app and env that went live;
//     failed, reverted, cancelled and interrupted attempts in between do
//     not replace what D put live.
//   - A counted deploy D is a change failure when its outcome is failed,
//     reverted or interrupted; or when a rollback of the same app and env
//     (whatever its outcome: someone judged D bad) started after D and
//     before D's next live deploy, unless it went back to D's own release
//     (it undid an attempt after D); or when a spike of the same app and
//     env happened from D's start until its next live deploy.
//   - A failure is restored by the first later record of the same app and
//     env that put a release live again: one that succeeded or ended
//     partial (most hosts run its release, checked healthy), or that found
//     every host on its release already (unchanged: recorded as it
//     resolves an interrupted run; not counted as a deploy or rollback,
//     and no judgement of the deploy before it), deploy or rollback. Its
//     time to restore runs from the failed deploy's end (its start when it
//     has none, or was interrupted) to the end of that record; MTTR is the
//     mean over restored failures. Deploys before the window are not
//     counted, but records after a counted deploy are used to judge and
//     restore it wherever they are.
//
// Nil records are skipped; records need not be sorted.
func Compute(records []*deploy.Record, spikes []Spike, now time.Time, window time.Duration) Report {
	if window <= 0 {
		window = DefaultWindow
	}
	days := int((window + day - 1) / day)
	rep := Report{From: now.Add(-window), To: now, Window: window, Daily: make([]int, days)}
	firstDay := now.Add(-time.Duration(days) * day) // Daily[0] covers [firstDay, firstDay+24h)

	streams := map[stream][]*deploy.Record{}
	for _, r := range records {
		if r == nil {
			continue
		}
		k := stream{r.App, r.Env}
		streams[k] = append(streams[k], r)
	}
	spikesOf := map[stream][]time.Time{}
	for _, s := range spikes {
		k := stream{s.App, s.Env}
		spikesOf[k] = append(spikesOf[k], s.At)
	}

	var durations []time.Duration
	var restoreSum time.Duration
	for k, rs := range streams {
		slices.SortStableFunc(rs, func(a, b *deploy.Record) int { return a.Started.Compare(b.Started) })
		for i, r := range rs {
			if r.Started.Before(rep.From) || !r.Started.Before(now) {
				continue
			}
			if !counted(r) {
				continue
			}
			if r.Kind == deploy.KindRollback {
				rep.Rollbacks++
				continue
			}
			rep.Deploys++
			if !r.Finished.IsZero() && r.Outcome != deploy.OutcomeInterrupted {
				durations = append(durations, max(r.Finished.Sub(r.Started), 0))
			}
			rep.Daily[int(r.Started.Sub(firstDay)/day)]++
			if !failed(rs, i, spikesOf[k]) {
				continue
			}
			rep.Failures++
			if d, ok := restore(rs, i); ok {
				rep.Restored++
				restoreSum += d
			} else {
				rep.Unrestored++
			}
		}
	}

	rep.PerDay = float64(rep.Deploys) / (float64(window) / float64(day))
	if rep.Deploys > 0 {
		rep.ChangeFailureRate = float64(rep.Failures) / float64(rep.Deploys)
	}
	if rep.Restored > 0 {
		rep.MTTR = restoreSum / time.Duration(rep.Restored)
	}
	rep.Timed = len(durations)
	slices.Sort(durations)
	rep.MedianDuration = median(durations)
	rep.P90Duration = nearestRank(durations, 0.9)
	rep.Sparkline = Sparkline(rep.Daily)
	return rep
}

// counted leaves out, besides running and cancelled runs, those that
// found every host on their release and changed nothing: neither a deploy
// nor a rollback, though they restore (see restore).
func counted(r *deploy.Record) bool {
	return r.Outcome.Done() && r.Outcome != deploy.OutcomeCancelled && r.Outcome != deploy.OutcomeUnchanged
}

// live reports whether r is a deploy that put its release live. One
// recorded unchanged found every host on its release as it resolved an
// interrupted run: that release is live from then on, as if it had
// succeeded, and what happens after it is no longer the doing of the
// deploy live before the interrupted one.
func live(r *deploy.Record) bool {
	if r.Kind == deploy.KindRollback {
		return false
	}
	switch r.Outcome {
	case deploy.OutcomeSucceeded, deploy.OutcomePartial, deploy.OutcomeUnchanged:
		return true
	}
	return false
}

// failed reports whether rs[i], a counted deploy, is a change failure; rs
// is its app/env's history sorted by start.
func failed(rs []*deploy.Record, i int, spikes []time.Time) bool {
	d := rs[i]
	switch d.Outcome {
	case deploy.OutcomeFailed, deploy.OutcomeReverted, deploy.OutcomeInterrupted:
		return true
	}
	end := time.Time{} // zero: no next live deploy
	for _, r := range rs[i+1:] {
		if live(r) {
			end = r.Started
			break
		}
	}
	before := func(t time.Time) bool { return end.IsZero() || t.Before(end) }
	for _, r := range rs[i+1:] {
		// A rollback that found every host on its target already
		// changed nothing: it resolved an interrupted run, judging no
		// deploy. One whose target is d's own release undoes an attempt
		// after d (an interrupted deploy goes back to the release it
		// replaced): it puts d's release back, judging the attempt.
		if r.Kind != deploy.KindRollback || r.Outcome == deploy.OutcomeUnchanged || !before(r.Started) {
			continue
		}
		if d.Build != "" && r.Build == d.Build {
			continue
		}
		return true
	}
	for _, at := range spikes {
		if !at.Before(d.Started) && before(at) {
			return true
		}
	}
	return false
}

// restore returns how long after rs[i] failed a later record of its
// app/env put a release live again.
func restore(rs []*deploy.Record, i int) (time.Duration, bool) {
	d := rs[i]
	from := d.Finished
	if from.IsZero() || d.Outcome == deploy.OutcomeInterrupted {
		// An interrupted run's end is when recovery found it dead,
		// maybe days after it stopped: from then, its app/env would
		// seem restored in the minutes the next run took.
		from = d.Started
	}
	for _, r := range rs[i+1:] {
		// A partial run is the env's live release as much as one that
		// succeeded (it is no change failure for it, and alerts offer
		// a rollback from it): waiting for a full success would leave
		// a failure unrestored through every partial deploy after it.
		// An unchanged run reached every host and found them all on
		// its release: recorded only as it resolves an interrupted
		// run, it is the env's live release from then on too.
		switch r.Outcome {
		case deploy.OutcomeSucceeded, deploy.OutcomePartial, deploy.OutcomeUnchanged:
			if !r.Finished.IsZero() {
				return max(r.Finished.Sub(from), 0), true
			}
		}
	}
	return 0, false
}

func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return sorted[n/2]
	default:
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
}

// nearestRank returns the p-quantile (0 < p ≤ 1) of sorted by the
// nearest-rank method: the smallest value with at least p of the values at
// or below it.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

var bars = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws counts with ▁▂▃▄▅▆▇█: ▁ for zero, the largest count █,
// other positive counts scaled up to the next bar so that any activity
// shows above ▁. All zeros (or no counts) draw as ▁s (or nothing).
func Sparkline(counts []int) string {
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	var b strings.Builder
	for _, c := range counts {
		i := 0
		if c > 0 && top > 0 {
			i = int(math.Ceil(float64(c) * float64(len(bars)-1) / float64(top)))
			i = min(max(i, 1), len(bars)-1)
		}
		b.WriteRune(bars[i])
	}
	return b.String()
}
