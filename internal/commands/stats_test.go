package commands

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/stats"
)

// TestStatsMessageWords: counts of one are singular, and a window without
// deploys has no median rather than one of 0s, and no failure rate rather
// than one of 0%; nor has one of interrupted deploys only a median, their
// durations being unknown.
func TestStatsMessageWords(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name     string
		r        stats.Report
		title    string
		deploys  string
		duration string
		failure  string // "" for the usual "N% (F of D)"
		restore  string // "" for the usual "mean … over N restored"
	}{
		{"one of each", stats.Report{Window: day, Deploys: 1, Timed: 1, PerDay: 1, Rollbacks: 1, MedianDuration: 48 * time.Second, P90Duration: 48 * time.Second},
			"Deploy stats of web/prod, last 1 day", "1 (1.00 a day), 1 rollback", "median 48s, p90 48s", "", ""},
		{"several", stats.Report{Window: 30 * day, Deploys: 41, Timed: 41, PerDay: 41.0 / 30, Rollbacks: 3, MedianDuration: 48 * time.Second, P90Duration: 112 * time.Second},
			"Deploy stats of web/prod, last 30 days", "41 (1.37 a day), 3 rollbacks", "median 48s, p90 1m52s", "", ""},
		{"no deploys", stats.Report{Window: 7 * day},
			"Deploy stats of web/prod, last 7 days", "0 (0.00 a day), 0 rollbacks", "no median: no deploys", "n/a: no deploys", "n/a: nothing failed"},
		{"some interrupted", stats.Report{Window: 7 * day, Deploys: 3, Timed: 2, PerDay: 3.0 / 7, MedianDuration: 48 * time.Second, P90Duration: 52 * time.Second},
			"Deploy stats of web/prod, last 7 days", "3 (0.43 a day), 0 rollbacks", "median 48s, p90 52s (1 interrupted, not timed)", "", ""},
		{"only interrupted", stats.Report{Window: 7 * day, Deploys: 1, PerDay: 1.0 / 7},
			"Deploy stats of web/prod, last 7 days", "1 (0.14 a day), 0 rollbacks", "no median: every deploy was interrupted, none timed", "", ""},
		{"failures, none restored yet", stats.Report{Window: 7 * day, Deploys: 4, Timed: 4, PerDay: 4.0 / 7, Failures: 1, ChangeFailureRate: 0.25, Unrestored: 1, MedianDuration: time.Minute, P90Duration: time.Minute},
			"Deploy stats of web/prod, last 7 days", "4 (0.57 a day), 0 rollbacks", "median 1m0s, p90 1m0s", "25% (1 of 4)", "n/a: 1 not restored yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := statsMessage("web", "prod", tt.r)
			if m.Title != tt.title {
				t.Errorf("title: got %q, want %q", m.Title, tt.title)
			}
			fields := map[string]string{}
			for _, f := range m.Fields {
				fields[f.Label] = f.Value
			}
			if got := fields["deploys"]; got != tt.deploys {
				t.Errorf("deploys: got %q, want %q", got, tt.deploys)
			}
			if got := fields["duration"]; got != tt.duration {
				t.Errorf("duration: got %q, want %q", got, tt.duration)
			}
			if got := fields["change failure rate"]; tt.failure != "" && got != tt.failure {
				t.Errorf("change failure rate: got %q, want %q", got, tt.failure)
			}
			if got := fields["time to restore"]; tt.restore != "" && got != tt.restore {
				t.Errorf("time to restore: got %q, want %q", got, tt.restore)
			}
		})
	}
}

// TestStatsMessageRounding: a figure is never rounded to what it is not:
// a failure rate to 0% while something failed or to 100% while something
// did not, a frequency to 0.00 a day while something was deployed.
func TestStatsMessageRounding(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name            string
		window          time.Duration
		deploys, failed int
		wantDeploys     string
		wantRate        string
	}{
		{"usual", 30 * day, 41, 3, "41 (1.37 a day), 0 rollbacks", "7% (3 of 41)"},
		{"none failed", 30 * day, 5, 0, "5 (0.17 a day), 0 rollbacks", "0% (0 of 5)"},
		{"all failed", 30 * day, 5, 5, "5 (0.17 a day), 0 rollbacks", "100% (5 of 5)"},
		{"one failed of many", 365 * day, 201, 1, "201 (0.55 a day), 0 rollbacks", "0.5% (1 of 201)"},
		{"all but one failed", 365 * day, 201, 200, "201 (0.55 a day), 0 rollbacks", "99.5% (200 of 201)"},
		{"one failed of very many", 365 * day, 2500, 1, "2500 (6.85 a day), 0 rollbacks", "0.04% (1 of 2500)"},
		{"one deploy a year", 365 * day, 1, 0, "1 (0.0027 a day), 0 rollbacks", "0% (0 of 1)"},
		{"three deploys a year", 365 * day, 3, 1, "3 (0.0082 a day), 0 rollbacks", "33% (1 of 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := stats.Report{Window: tt.window, Deploys: tt.deploys, Timed: tt.deploys, Failures: tt.failed, Unrestored: tt.failed,
				PerDay: float64(tt.deploys) / float64(tt.window/day), ChangeFailureRate: float64(tt.failed) / float64(tt.deploys)}
			fields := map[string]string{}
			for _, f := range statsMessage("web", "prod", r).Fields {
				fields[f.Label] = f.Value
			}
			if got := fields["deploys"]; got != tt.wantDeploys {
				t.Errorf("deploys: got %q, want %q", got, tt.wantDeploys)
			}
			if got := fields["change failure rate"]; got != tt.wantRate {
				t.Errorf("change failure rate: got %q, want %q", got, tt.wantRate)
			}
		})
	}
}
