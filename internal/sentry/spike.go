package sentry

import (
	"math"
	"time"

	"github.com/switchman-bot/switchman/internal/jsonkeep"
)

// Policy says what counts as an error spike after a deploy and what to do
// about one. The zero value of each field is a sensible default.
type Policy struct {
	// Factor: a spike is at least Factor times the baseline rate. ≤ 0
	// or not finite: 3.
	Factor float64
	// MinEvents is the lowest rate, in events per minute, that can be a
	// spike, and the fewest events a spike's intervals may hold together,
	// so that 0 → 2 errors is not one at any interval: at 10s, 5 a minute
	// is under one event an interval, and a rate alone made 2 errors in
	// 20 s a spike. At intervals of 1m or more, an interval over the rate
	// holds that many events by itself. With a zero baseline it is the
	// only bar. ≤ 0 or not finite: 5.
	MinEvents float64
	// Consecutive intervals in a row must be over the bar, so that a single
	// burst is not a spike. ≤ 0: 2.
	Consecutive int
	// Interval is the bucket size read from Sentry and the polling period.
	// ≤ 0: 1m.
	Interval time.Duration
	// Watch is how long after the deploy to watch. ≤ 0: 15m.
	Watch time.Duration
	// AutoRollback lets the bot roll back by itself on a spike instead of
	// only offering the button. The watch only reports it.
	AutoRollback bool

	// unknown holds what a newer version wrote of the policy in a saved
	// watch, for the bot that goes on with the watch to write back.
	unknown jsonkeep.Unknown
}

// policyJSON is Policy without its JSON methods.
type policyJSON Policy

// UnmarshalJSON decodes p, keeping the members it does not know.
func (p *Policy) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*policyJSON)(p))
	p.unknown = u
	return err
}

// MarshalJSON encodes p with the members a newer version wrote.
func (p Policy) MarshalJSON() ([]byte, error) { return jsonkeep.Encode(policyJSON(p), p.unknown) }

// WithDefaults returns p with zero fields replaced by their defaults.
func (p Policy) WithDefaults() Policy {
	// Not finite is not set: an infinite factor times a zero baseline
	// is NaN, and an infinite bar is within its own tolerance (below) of
	// any rate; either made every interval a spike.
	if !(p.Factor > 0) || math.IsInf(p.Factor, 0) {
		p.Factor = 3
	}
	if !(p.MinEvents > 0) || math.IsInf(p.MinEvents, 0) {
		p.MinEvents = 5
	}
	if p.Consecutive <= 0 {
		p.Consecutive = 2
	}
	if p.Interval <= 0 {
		p.Interval = time.Minute
	}
	if p.Watch <= 0 {
		p.Watch = 15 * time.Minute
	}
	return p
}

// BaselineWindow is how far before a deploy's start the baseline is read,
// at intervals of up to half of it (see baselineWindow).
const BaselineWindow = time.Hour

// baselineWindow is how far before a deploy's start the baseline is read
// at interval iv. Buckets are aligned to the epoch, not to the deploy: an
// hour holds a whole bucket of over 30 minutes only at some start times
// (of 1h, at none), and a watch without one is inconclusive. Two
// intervals always hold one.
func baselineWindow(iv time.Duration) time.Duration { return max(BaselineWindow, 2*iv) }

// Baseline is the mean error rate, in events per minute, of buckets of the
// given interval: all their events over all their time. It is 0 for no
// buckets or a non-positive interval. The watch passes the buckets of the
// hour before the deploy started (of two intervals, for a longer interval).
func Baseline(buckets []Bucket, interval time.Duration) float64 {
	if len(buckets) == 0 || interval <= 0 {
		return 0
	}
	total := 0
	for _, b := range buckets {
		total += max(b.Count, 0)
	}
	return float64(total) / (float64(len(buckets)) * interval.Minutes())
}

// Verdict is what a Detector concluded from one interval.
type Verdict int

const (
	// Quiet: the rate is under the bar.
	Quiet Verdict = iota
	// Elevated: over the bar, but not yet for Consecutive intervals or
	// not yet with MinEvents events in them, or a spike that was already
	// reported.
	Elevated
	// Spike: over the bar for Consecutive intervals in a row, which hold
	// MinEvents events together. A Detector returns it once, on the
	// interval that completes the run.
	Spike
	// Inconclusive: no usable data for the interval (Sentry failed or sent
	// an empty series). Returned the first time only; later gaps and
	// unread intervals return NoData. A gap breaks a run: it is never part
	// of a spike. An interval read late does not (see Unread).
	Inconclusive
	// NoData: another interval without data, after Inconclusive was
	// returned.
	NoData
)

func (v Verdict) String() string {
	switch v {
	case Quiet:
		return "quiet"
	case Elevated:
		return "elevated"
	case Spike:
		return "spike"
	case Inconclusive:
		return "inconclusive"
	case NoData:
		return "no data"
	default:
		return "unknown"
	}
}

// Detector decides, interval by interval, whether the error rate after a
// deploy is a spike against the baseline before it. It is not safe for
// concurrent use; one watch owns one.
type Detector struct {
	policy   Policy
	baseline float64
	run      int
	// runEvents is how many events the run's intervals held.
	runEvents int
	spiked    bool
	reportedI bool
}

// NewDetector returns a detector for p (defaults applied) against baseline
// (events per minute; negative or NaN counts as 0).
func NewDetector(p Policy, baseline float64) *Detector {
	if baseline < 0 || math.IsNaN(baseline) || math.IsInf(baseline, 0) {
		baseline = 0
	}
	return &Detector{policy: p.WithDefaults(), baseline: baseline}
}

// Threshold is the lowest rate that counts toward a spike:
// Factor×baseline, but at least MinEvents (so a zero baseline uses
// MinEvents alone).
func (d *Detector) Threshold() float64 {
	return max(d.policy.Factor*d.baseline, d.policy.MinEvents)
}

// Baseline is the rate the detector compares against.
func (d *Detector) Baseline() float64 { return d.baseline }

// Rate is the rate, in events per minute, of an interval of the policy
// that held count events.
func (d *Detector) Rate(count int) float64 { return float64(count) / d.policy.Interval.Minutes() }

// Observe feeds the number of events of the next interval (of the
// policy's Interval). A negative count is a gap (see Gap). A spike is a
// run of Consecutive intervals whose rate is over the bar and which hold
// MinEvents events together.
func (d *Detector) Observe(count int) Verdict {
	if count < 0 {
		return d.Gap()
	}
	if below(d.Rate(count), d.Threshold()) {
		d.run, d.runEvents = 0, 0
		return Quiet
	}
	d.run++
	d.runEvents += count
	if d.run >= d.policy.Consecutive && !below(float64(d.runEvents), d.policy.MinEvents) && !d.spiked {
		d.spiked = true
		return Spike
	}
	return Elevated
}

// below reports whether rate is under bar by more than the rounding of
// the arithmetic that gave both. A rate of exactly factor × the baseline
// is over the bar, but computed from Sentry's counts (31 events in 5
// minutes against 124 in the hour before) it can land a hair under it,
// and a spike would go unseen. Distinct rates of real counts differ by far
// more than the tolerance. A bar of +Inf (a factor so large that factor ×
// the baseline overflows) is one no rate reaches: the tolerance, Inf too,
// made every rate reach it, and every interval a spike.
func below(rate, bar float64) bool {
	return rate < bar && (math.IsInf(bar, 1) || bar-rate > bar*1e-12)
}

// Gap records an interval without usable data. It ends any run.
func (d *Detector) Gap() Verdict {
	d.run, d.runEvents = 0, 0
	return d.Unread()
}

// Unread records a read that gave no interval to judge (Sentry failed,
// or had not counted the next one yet). It keeps the run: the intervals
// it did not give are read later, in their order, and two over the bar
// either side of it are two in a row all the same; ending the run there
// let one failed read hide a spike. It says Inconclusive as Gap does.
func (d *Detector) Unread() Verdict {
	if d.reportedI {
		return NoData
	}
	d.reportedI = true
	return Inconclusive
}
