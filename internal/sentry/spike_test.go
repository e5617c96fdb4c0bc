package sentry

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestBaseline(t *testing.T) {
	flat := func(n, count int) []Bucket {
		bs := make([]Bucket, n)
		for i := range bs {
			bs[i] = Bucket{Start: time.Unix(int64(i*60), 0), Count: count}
		}
		return bs
	}
	tests := []struct {
		name     string
		buckets  []Bucket
		interval time.Duration
		want     float64
	}{
		{"empty", nil, time.Minute, 0},
		{"zero interval", flat(60, 10), 0, 0},
		{"flat 10 per minute", flat(60, 10), time.Minute, 10},
		{"5 minute buckets", flat(12, 50), 5 * time.Minute, 10},
		{"all zero", flat(60, 0), time.Minute, 0},
		{"one burst averages out", append(flat(59, 0), Bucket{Count: 120}), time.Minute, 2},
		{"negative counts ignored", []Bucket{{Count: -5}, {Count: 5}}, time.Minute, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Baseline(tt.buckets, tt.interval); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// gap in a sequence of counts stands for an interval without data.
const gap = -1

func TestDetector(t *testing.T) {
	p := Policy{Factor: 3, MinEvents: 5, Consecutive: 2}
	const (
		Q = Quiet
		E = Elevated
		S = Spike
		I = Inconclusive
		N = NoData
	)
	tests := []struct {
		name     string
		policy   Policy
		baseline float64
		counts   []int
		want     []Verdict
	}{
		{"flat baseline", p, 10, []int{10, 12, 9, 11, 10}, []Verdict{Q, Q, Q, Q, Q}},
		{"threshold is inclusive", p, 10, []int{30, 30}, []Verdict{E, S}},
		{"just under", p, 10, []int{29, 29, 29}, []Verdict{Q, Q, Q}},
		{"zero baseline uses MinEvents alone", p, 0, []int{4, 4, 5, 6}, []Verdict{Q, Q, E, S}},
		{"zero baseline, low noise", p, 0, []int{1, 3, 2, 4}, []Verdict{Q, Q, Q, Q}},
		{"tiny baseline still needs MinEvents", p, 0.5, []int{2, 3, 4}, []Verdict{Q, Q, Q}},
		{"slow rise stays under 3x", p, 10, []int{11, 13, 15, 18, 21, 24, 27, 29}, []Verdict{Q, Q, Q, Q, Q, Q, Q, Q}},
		{"slow rise crossing", p, 10, []int{20, 25, 30, 35}, []Verdict{Q, Q, E, S}},
		{"single-bucket blip", p, 10, []int{10, 100, 10, 11}, []Verdict{Q, E, Q, Q}},
		{"blips never in a row", p, 10, []int{100, 10, 100, 10, 100}, []Verdict{E, Q, E, Q, E}},
		{"spike after 3 minutes", p, 10, []int{10, 11, 9, 50, 60}, []Verdict{Q, Q, Q, E, S}},
		{"spike reported once", p, 10, []int{50, 60, 70, 80, 10, 50, 60}, []Verdict{E, S, E, E, Q, E, E}},
		{"three in a row", Policy{Factor: 2, MinEvents: 1, Consecutive: 3}, 5, []int{10, 10, 10}, []Verdict{E, E, S}},
		{"one is enough", Policy{Factor: 2, MinEvents: 1, Consecutive: 1}, 5, []int{9, 10}, []Verdict{Q, S}},
		// 5 a minute is under one event an interval of 10s: the rate
		// alone made 2 errors in 20 s a spike.
		{"short interval needs MinEvents events", Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: 10 * time.Second}, 0, []int{1, 1, 1, 1, 1}, []Verdict{E, E, E, E, S}},
		{"short interval, run broken", Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: 10 * time.Second}, 0, []int{2, 2, 0, 2, 2}, []Verdict{E, E, Q, E, E}},
		{"gap is inconclusive once", p, 10, []int{gap, gap, 10, gap}, []Verdict{I, N, Q, N}},
		{"gap breaks a run", p, 10, []int{50, gap, 50, 50}, []Verdict{E, I, E, S}},
		{"negative count is a gap", p, 10, []int{-7, 10}, []Verdict{I, Q}},
		{"zero policy uses defaults", Policy{}, 10, []int{30, 30}, []Verdict{E, S}},
		// Inf × a zero baseline is NaN, and a bar of NaN was crossed by
		// every rate: a quiet app rolled back after every deploy.
		{"infinite factor uses the default", Policy{Factor: math.Inf(1), MinEvents: 5, Consecutive: 2}, 0, []int{1, 1, 5, 5}, []Verdict{Q, Q, E, S}},
		// A bar of +Inf is not above +Inf by its tolerance (Inf - rate
		// is not more than Inf × 1e-12): every rate crossed it too.
		{"infinite min events uses the default", Policy{Factor: 3, MinEvents: math.Inf(1), Consecutive: 2}, 0, []int{1, 1, 5, 5}, []Verdict{Q, Q, E, S}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDetector(tt.policy, tt.baseline)
			var got []Verdict
			for _, n := range tt.counts {
				got = append(got, d.Observe(n))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("verdicts for %v:\n got %v\nwant %v", tt.counts, got, tt.want)
			}
		})
	}
}

func TestDetectorThreshold(t *testing.T) {
	tests := []struct {
		baseline, want float64
	}{
		{0, 5}, {1, 5}, {10, 30}, {-3, 5}, {math.NaN(), 5},
	}
	for _, tt := range tests {
		d := NewDetector(Policy{Factor: 3, MinEvents: 5}, tt.baseline)
		if got := d.Threshold(); got != tt.want {
			t.Errorf("Threshold at baseline %v: got %v, want %v", tt.baseline, got, tt.want)
		}
	}
}

func TestPolicyDefaults(t *testing.T) {
	got := Policy{AutoRollback: true}.WithDefaults()
	want := Policy{Factor: 3, MinEvents: 5, Consecutive: 2, Interval: time.Minute, Watch: 15 * time.Minute, AutoRollback: true}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	set := Policy{Factor: 2, MinEvents: 1, Consecutive: 4, Interval: 5 * time.Minute, Watch: time.Hour}
	if got := set.WithDefaults(); got != set {
		t.Errorf("set fields changed: got %+v, want %+v", got, set)
	}
}
