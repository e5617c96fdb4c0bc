package sentry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/jsonkeep"
	"github.com/switchman-bot/switchman/internal/pause"
)

// DefaultIssueTimeout bounds the listing of a spike's new issues
// (Watch.IssueTimeout). OnSpike, and so the automatic rollback, waits for
// it, and the client's retries of a Sentry that is slow or rate limits
// its issue search could hold them for minutes, for a list that only
// helps people read the spike: past this, the spike is reported with why
// its issues are not listed.
const DefaultIssueTimeout = 10 * time.Second

// Target is the deploy a Watch looks after.
type Target struct {
	App, Env, Build string
	// Project is the Sentry project slug of the app.
	Project string
	// Environment is the Sentry environment; empty means Env.
	Environment string
	// Version is the Sentry release; empty means Version("", App, Env, Build).
	Version string
	// Started is when the deploy started: the baseline is the hour before
	// (two intervals before, for an interval over 30 minutes).
	// Zero means now.
	Started time.Time
	// Finished is when the deploy finished: the watch starts there. Zero
	// means now.
	Finished time.Time
	// BaselineBefore, when not zero, is read the baseline before, instead
	// of Started: a rollback's watch judges against the hour before the
	// deploy it rolled back, the hour before the rollback holding the
	// very spike it answered, which would hide a spike that goes on.
	BaselineBefore time.Time
}

// TargetOf returns the Target of deploy record r for Sentry project, with
// the release version rendered from versionTmpl (see Version).
func TargetOf(r *deploy.Record, project, versionTmpl string) Target {
	return Target{
		App:      r.App,
		Env:      r.Env,
		Build:    r.Build,
		Project:  project,
		Version:  Version(versionTmpl, r.App, r.Env, r.Build),
		Started:  r.Started,
		Finished: r.Finished,
	}
}

// SpikeReport is what the watch found when the error rate spiked.
type SpikeReport struct {
	App, Env, Build, Version string
	// Rate is the error rate, in events per minute, of the interval that
	// completed the spike; Baseline is the rate of the hour before the
	// deploy (before Target.BaselineBefore, when set) and Threshold the
	// bar Rate crossed.
	Rate, Baseline, Threshold float64
	// BaselineBefore is Target.BaselineBefore.
	BaselineBefore time.Time
	// At is the end of the interval that completed the spike.
	At time.Time
	// Issues are the issues first seen in the release, most events first
	// (empty when there are none or Sentry could not list them).
	Issues []Issue
	// IssuesErr says why Sentry could not list them; empty when it did,
	// so that no issues listed is told apart from none there.
	IssuesErr string
	// AutoRollback copies the policy: the caller may roll back by itself.
	AutoRollback bool
}

// Watch polls a project's error rate after a deploy and reports a spike
// against the hour before it. Set the fields, then call Run. Run only reads
// the fields, so one Watch may run for several deploys at once if its
// callbacks are safe for concurrent use.
//
// Callbacks run on Run's goroutine and should return quickly. Each is
// called at most once per Run: OnSpike when the policy's spike condition is
// met (the watch then ends), OnInconclusive the first time Sentry gives no
// usable data (an error, or an empty series), and OnQuiet when the watch
// ends without a spike after observing at least one interval.
//
// Without the baseline the watch cannot judge anything. One Sentry failed
// to give (an Unavailable or Internal error) is read again at every
// interval's read until the watch ends, and the intervals that ended
// meanwhile are judged at once when it comes: the hour before the deploy
// does not change, and a moment of Sentry's trouble as the deploy ends
// would otherwise leave the deploy unwatched. OnInconclusive says so,
// ended false. A baseline Sentry refused (a token without the scope, a
// project it does not know) or answered without enough of its intervals
// ends the watch without OnQuiet: OnInconclusive says so, ended true (a
// second call when it came after a failure).
//
// A watch that reaches its last read with intervals it never judged
// (Sentry gave no usable counts for them, or the baseline never came, and
// an inconclusive report, said once, may be long past) calls OnUnjudged
// instead of OnQuiet, once, with the span of those intervals: people must
// know that the watch ended without judging them.
//
// OnProgress, the exception, is called after the baseline is read (or
// Sentry failed to give it) and after every read that judged nothing a
// spike, with what RunFrom needs to go on from there.
type Watch struct {
	Reader Reader
	Org    string
	Policy Policy
	// IssueLimit bounds SpikeReport.Issues. Zero: 5.
	IssueLimit int
	// IssueTimeout bounds the listing of a spike's new issues, retries
	// included. Zero: DefaultIssueTimeout.
	IssueTimeout time.Duration
	// Now and Sleep are the clock; nil means the real one. Sleep waits d or
	// until ctx ends, returning ctx.Err() then.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Log receives the outcome; nil discards.
	Log *slog.Logger

	OnSpike        func(SpikeReport)
	OnInconclusive func(reason string, ended bool)
	OnQuiet        func()
	// OnUnjudged: from is the start of the first interval not judged, to
	// the end of the last; based is false when the baseline never came,
	// and nothing was judged.
	OnUnjudged func(from, to time.Time, based bool)
	OnProgress func(Progress)
}

// Progress is how far a watch got: a watch stopped there (its bot
// stopped) goes on from it with RunFrom, judging no interval twice and
// saying nothing twice. The zero Progress is a watch that has not begun.
type Progress struct {
	// Based says the baseline was read; Baseline is its rate, in events
	// per minute.
	Based    bool    `json:"based,omitempty"`
	Baseline float64 `json:"baseline,omitempty"`
	// Next is the start of the next interval to judge; zero before the
	// first.
	Next time.Time `json:"next,omitzero"`
	// Run is how many intervals in a row before Next were over the bar.
	Run int `json:"run,omitempty"`
	// RunEvents is how many events those intervals held, as counted up
	// to RunEventsNext. A replica of a version that did not count them
	// goes on with a run without changing them: counted up to another
	// interval than Next, they are not the run's, and the run goes on
	// as if they were none (a spike then needs more events, never fewer).
	RunEvents     int       `json:"run_events,omitempty"`
	RunEventsNext time.Time `json:"run_events_next,omitzero"`
	// Observed is how many intervals were judged.
	Observed int `json:"observed,omitempty"`
	// Inconclusive says inconclusive data was reported already.
	Inconclusive bool `json:"inconclusive,omitempty"`

	// unknown holds what a newer version wrote of the progress in a
	// saved watch; RunFrom hands it on in each Progress it reports.
	unknown jsonkeep.Unknown
}

// progressJSON is Progress without its JSON methods.
type progressJSON Progress

// UnmarshalJSON decodes p, keeping the members it does not know.
func (p *Progress) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*progressJSON)(p))
	p.unknown = u
	return err
}

// MarshalJSON encodes p with the members a newer version wrote.
func (p Progress) MarshalJSON() ([]byte, error) {
	return jsonkeep.Encode(progressJSON(p), p.unknown)
}

// Schedule is when a watch of a deploy that finished at finished judges
// what: From is the start of the first interval judged (the one the deploy
// finished in), To the end of the last, and LastRead when that last one is
// read (settled).
func (p Policy) Schedule(finished time.Time) (from, to, lastRead time.Time) {
	p = p.WithDefaults()
	iv := p.Interval
	from = alignDown(finished, iv)
	to = from.Add(time.Duration((p.Watch+iv-1)/iv) * iv)
	return from, to, to.Add(min(settleDelay, iv/2))
}

// Run watches t for Policy.Watch after t.Finished, polling every
// Policy.Interval: each interval is read once, settleDelay (at most half an
// interval) after it ends. It returns nil when the watch ended (spike, quiet or
// inconclusive), ctx.Err() when cancelled (without calling OnQuiet), and an
// Invalid error when the watch is not configured.
func (w *Watch) Run(ctx context.Context, t Target) error {
	return w.RunFrom(ctx, t, Progress{})
}

// RunFrom is Run for a watch that got as far as from before it stopped:
// the baseline is read again only if from has none, and the judging goes
// on at from.Next, with the run of intervals over the bar and the
// inconclusive report as they were. Intervals that ended while the watch
// was stopped are read at once, together; a watch resumed after its last
// interval ended judges them all, unless from judged them already.
func (w *Watch) RunFrom(ctx context.Context, t Target, from Progress) error {
	if w.Reader == nil || w.Org == "" || t.Project == "" {
		return errs.New(errs.Invalid, "sentry watch needs a reader, an organization and a project")
	}
	p := w.Policy.WithDefaults()
	now, sleep := w.Now, w.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = pause.For
	}
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("app", t.App, "env", t.Env, "build", t.Build)
	env := t.Environment
	if env == "" {
		env = t.Env
	}
	version := t.Version
	if version == "" {
		version = Version("", t.App, t.Env, t.Build)
	}
	started, finished := t.Started, t.Finished
	if started.IsZero() {
		started = now()
	}
	if finished.IsZero() {
		finished = now()
	}
	baseAt := started
	if !t.BaselineBefore.IsZero() {
		baseAt = t.BaselineBefore
	}
	iv := p.Interval

	inconclusive := func(reason string, ended bool) {
		log.Warn("sentry watch inconclusive", "reason", reason, "ended", ended)
		if w.OnInconclusive != nil {
			w.OnInconclusive(reason, ended)
		}
	}
	unjudged := func(from, to time.Time, based bool) {
		log.Warn("sentry watch ended with intervals not judged", "from", from, "to", to, "baseline", based)
		if w.OnUnjudged != nil {
			w.OnUnjudged(from, to, based)
		}
	}

	// d is nil until the baseline is read.
	var d *Detector
	if from.Based {
		d = NewDetector(p, from.Baseline)
		d.run, d.reportedI = from.Run, from.Inconclusive
		if d.run > 0 && from.RunEvents > 0 && from.RunEventsNext.Equal(from.Next) {
			d.runEvents = from.RunEvents
		}
	} else {
		rate, problem, again, err := w.baseline(ctx, t, env, baseAt, iv)
		switch {
		case err != nil:
			return err
		case problem == "":
			d = NewDetector(p, rate)
			d.reportedI = from.Inconclusive
		case !again:
			inconclusive(problem, true)
			return nil
		case from.Inconclusive:
			// Said before the watch stopped (progress, below): the
			// bot that goes on with it says nothing twice.
		default:
			inconclusive(problem+"; it is read again at every interval until the watch ends, and no interval is judged until then", false)
		}
	}

	// The watch judges ceil(Watch/iv) intervals from the one the deploy
	// finished in, each read once settled: settle after it ends.
	settle := min(settleDelay, iv/2)
	first, end, last := p.Schedule(finished)
	cursor := first // start of the next bucket to judge
	if from.Next.After(first) {
		cursor = from.Next
	}
	observed := from.Observed
	progress := func() {
		switch {
		case w.OnProgress == nil:
		case d != nil:
			run, reported := d.run, d.reportedI
			pr := Progress{Based: true, Baseline: d.Baseline(), Next: cursor, Run: run, Observed: observed, Inconclusive: reported,
				unknown: from.unknown}
			if run > 0 {
				pr.RunEvents, pr.RunEventsNext = d.runEvents, cursor
			}
			w.OnProgress(pr)
		default:
			// The baseline Sentry failed to give was said: a watch
			// resumed from here reads it again, and says it once.
			w.OnProgress(Progress{Next: cursor, Observed: observed, Inconclusive: true, unknown: from.unknown})
		}
	}
	if !from.Based {
		progress()
	}
	baseFailed := d == nil // and said so
	tick := cursor.Add(iv + settle)
	if late := now().Sub(tick); late > 0 {
		// Resumed after a stop: one read takes every interval that
		// settled meanwhile, rather than one read per interval missed,
		// which would find nothing new and say so.
		if tick = tick.Add(late / iv * iv); tick.After(last) {
			tick = last
		}
	}
	// A watch stopped after it judged its last interval has only its
	// quiet end left.
	for ; cursor.Before(end); tick = tick.Add(iv) {
		if wait := tick.Sub(now()); wait > 0 {
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d == nil {
			rate, problem, again, err := w.baseline(ctx, t, env, baseAt, iv)
			switch {
			case err != nil:
				return err
			case problem != "" && !again:
				inconclusive(problem, true)
				return nil
			case problem != "":
				if !tick.Before(last) {
					unjudged(cursor, end, false)
					return nil
				}
				continue
			}
			log.Info("sentry watch: the baseline was read at last", "baseline", rate)
			d = NewDetector(p, rate)
			d.reportedI = baseFailed
			progress()
		}
		at := now()
		buckets, err := w.Reader.ErrorCounts(ctx, w.Org, t.Project, env, cursor, at, iv)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fresh []Bucket
		if err == nil {
			for _, b := range buckets {
				if !b.Start.Before(cursor) && b.Start.Before(end) && !b.Start.Add(iv+settle).After(at) {
					fresh = append(fresh, b)
				}
			}
		}
		// A read that gives no interval judges none: the next one reads
		// from the same cursor, and only an interval missing between two
		// it gives is a gap.
		switch {
		case err != nil:
			if d.Unread() == Inconclusive {
				inconclusive("cannot read the error rate after the deploy: "+errs.Message(err), false)
			}
		case len(fresh) == 0:
			if d.Unread() == Inconclusive {
				inconclusive(fmt.Sprintf("Sentry returned no error counts after %s", cursor.In(at.Location()).Format("15:04 MST")), false)
			}
		}
		for _, b := range fresh {
			// An interval missing from the answer is a gap, never part
			// of a run.
			if b.Start.After(cursor) && d.Gap() == Inconclusive {
				inconclusive(fmt.Sprintf("Sentry returned no error count for %s", cursor.In(at.Location()).Format("15:04 MST")), false)
			}
			rate := d.Rate(b.Count)
			cursor = b.Start.Add(iv)
			observed++
			if d.Observe(b.Count) != Spike {
				continue
			}
			rep := SpikeReport{
				App: t.App, Env: t.Env, Build: t.Build, Version: version,
				Rate: rate, Baseline: d.Baseline(), Threshold: d.Threshold(),
				At: cursor, AutoRollback: p.AutoRollback, BaselineBefore: t.BaselineBefore,
			}
			limit := w.IssueLimit
			if limit <= 0 {
				limit = 5
			}
			timeout := w.IssueTimeout
			if timeout <= 0 {
				timeout = DefaultIssueTimeout
			}
			ictx, cancel := context.WithTimeout(ctx, timeout)
			issues, err := w.Reader.NewIssues(ictx, w.Org, t.Project, env, version, limit)
			cancel()
			if err != nil {
				log.Warn("sentry watch: cannot list new issues", "err", err)
				rep.IssuesErr = errs.Message(err)
			}
			rep.Issues = issues
			log.Info("sentry watch: error spike", "rate", rate, "baseline", rep.Baseline, "threshold", rep.Threshold)
			if w.OnSpike != nil {
				w.OnSpike(rep)
			}
			return nil
		}
		progress()
		if !tick.Before(last) {
			break
		}
	}
	if cursor.Before(end) {
		// The last reads failed, or held nothing new: those intervals
		// are never judged, and the inconclusive report, said once, may
		// be long past.
		unjudged(cursor, end, true)
		return nil
	}
	if observed > 0 && d != nil {
		log.Info("sentry watch: quiet", "baseline", d.Baseline(), "intervals", observed)
		if w.OnQuiet != nil {
			w.OnQuiet()
		}
	}
	return nil
}

// baseline reads the error rate of the complete buckets of the hour (or
// two intervals) before the deploy started. problem, when not empty, says
// why there is none to judge against; again, that Sentry failed to answer
// (see Client's error codes) and a later read may succeed. err is ctx's,
// once it ended.
func (w *Watch) baseline(ctx context.Context, t Target, env string, started time.Time, iv time.Duration) (rate float64, problem string, again bool, err error) {
	window := baselineWindow(iv)
	baseFrom := started.Add(-window)
	buckets, err := w.Reader.ErrorCounts(ctx, w.Org, t.Project, env, baseFrom, started, iv)
	if ctx.Err() != nil {
		return 0, "", false, ctx.Err()
	}
	if err != nil {
		// Sentry failing, unreachable, rate limiting, or an answer that
		// could not be read may pass; a refusal (the token, the
		// project) does not.
		code := errs.CodeOf(err)
		return 0, "cannot read the error rate before the deploy: " + errs.Message(err), code == errs.Unavailable || code == errs.Internal, nil
	}
	var before []Bucket
	for _, b := range buckets {
		if !b.Start.Before(baseFrom) && !b.Start.Add(iv).After(started) {
			before = append(before, b)
		}
	}
	// A baseline from a few intervals could be a quiet moment of a noisy
	// app: half of the window at least.
	if want := int(window / iv); len(before) < (want+1)/2 {
		span := "hour"
		if window != time.Hour {
			span = formatInterval(window)
		}
		return 0, fmt.Sprintf("Sentry returned error counts for %d of the %d intervals of the %s before the deploy", len(before), want, span), false, nil
	}
	return Baseline(before, iv), "", false, nil
}

// settleDelay is how long after an interval ends the watch reads it, at
// most half the interval: Sentry counts an event seconds after it happened
// (its ingestion pipeline), so an interval read as it ends lacks its last
// seconds' events, and the watch reads each interval once.
const settleDelay = 30 * time.Second

// alignDown returns the start of the interval containing t, counted from the
// Unix epoch as Sentry aligns its buckets.
func alignDown(t time.Time, iv time.Duration) time.Time {
	n := t.UnixNano()
	step := int64(iv)
	r := n % step
	if r < 0 {
		r += step
	}
	return time.Unix(0, n-r).UTC()
}
