package train

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
)

func TestScheduleNext(t *testing.T) {
	cest := time.FixedZone("CEST", 2*3600)
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		tz   string
		spec string
		from time.Time
		want []time.Time // the next instants, in order
	}{
		{
			name: "02:30 on the day the clock skips it runs when the clock jumps",
			tz:   "Europe/Warsaw", spec: "30 2 * * *", from: at(2026, 3, 27, 12, 0),
			want: []time.Time{
				time.Date(2026, 3, 28, 2, 30, 0, 0, cet),
				time.Date(2026, 3, 29, 3, 0, 0, 0, cest),
				time.Date(2026, 3, 30, 2, 30, 0, 0, cest),
			},
		},
		{
			name: "02:30 on the day the clock shows it twice runs once, the first time",
			tz:   "Europe/Warsaw", spec: "30 2 * * *", from: at(2026, 10, 23, 12, 0),
			want: []time.Time{
				time.Date(2026, 10, 24, 2, 30, 0, 0, cest),
				time.Date(2026, 10, 25, 2, 30, 0, 0, cest),
				time.Date(2026, 10, 26, 2, 30, 0, 0, cet),
			},
		},
		{
			name: "from within the repeated hour, after the first 02:30",
			tz:   "Europe/Warsaw", spec: "30 2 * * *", from: time.Date(2026, 10, 25, 2, 10, 0, 0, cet),
			want: []time.Time{time.Date(2026, 10, 26, 2, 30, 0, 0, cet)},
		},
		{
			name: "14:00 across the spring change",
			tz:   "Europe/Warsaw", spec: "0 14 * * *", from: at(2026, 3, 28, 12, 0),
			want: []time.Time{
				time.Date(2026, 3, 28, 14, 0, 0, 0, cet),
				time.Date(2026, 3, 29, 14, 0, 0, 0, cest),
				time.Date(2026, 3, 30, 14, 0, 0, 0, cest),
			},
		},
		{
			name: "14:00 across the autumn change",
			tz:   "Europe/Warsaw", spec: "0 14 * * *", from: at(2026, 10, 24, 12, 0),
			want: []time.Time{
				time.Date(2026, 10, 24, 14, 0, 0, 0, cest),
				time.Date(2026, 10, 25, 14, 0, 0, 0, cet),
				time.Date(2026, 10, 26, 14, 0, 0, 0, cet),
			},
		},
		{
			name: "weekdays skip the weekend",
			tz:   "Europe/Warsaw", spec: "0 14 * * 1-5", from: at(2026, 6, 5, 14, 0), // a Friday, at departure
			want: []time.Time{at(2026, 6, 8, 14, 0), at(2026, 6, 9, 14, 0)},
		},
		{
			name: "every 15 minutes through the skipped hour",
			tz:   "Europe/Warsaw", spec: "*/15 1-3 29 3 *", from: time.Date(2026, 3, 29, 1, 40, 0, 0, cet),
			want: []time.Time{
				time.Date(2026, 3, 29, 1, 45, 0, 0, cet),
				time.Date(2026, 3, 29, 3, 0, 0, 0, cest), // 02:00-02:45 do not exist
				time.Date(2026, 3, 29, 3, 15, 0, 0, cest),
			},
		},
		{
			name: "UTC by default",
			tz:   "", spec: "0 14 * * *", from: time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC),
			want: []time.Time{time.Date(2026, 3, 29, 14, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 14, 0, 0, 0, time.UTC)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := newSchedule(&config.Train{Timezone: tc.tz}, tc.spec)
			if err != nil {
				t.Fatalf("newSchedule(%q): %v", tc.spec, err)
			}
			from := tc.from
			for i, want := range tc.want {
				got := sc.Next(from)
				if !got.Equal(want) {
					t.Fatalf("Next #%d from %v: got %v, want %v", i+1, from, got, want)
				}
				from = got
			}
		})
	}
}

// TestScheduleNominal: the wall reading a schedule meant for an instant it
// returned, which differs from the clock's when the clock jumped over it.
func TestScheduleNominal(t *testing.T) {
	lordHowe := mustLoad("Australia/Lord_Howe") // springs forward 30 minutes, 02:00 to 02:30
	tests := []struct {
		name, tz, spec string
		from           time.Time
		want           string // the wall reading of the next instant
	}{
		{"an ordinary day", "Europe/Warsaw", "0 14 * * *", at(2026, 6, 1, 12, 0), "2026-06-01 14:00"},
		{"skipped in Warsaw", "Europe/Warsaw", "30 2 * * *", at(2026, 3, 29, 1, 0), "2026-03-29 02:30"},
		{"skipped, several in the gap", "Europe/Warsaw", "15,45 2 * * *", at(2026, 3, 29, 1, 0), "2026-03-29 02:45"},
		{"the reading the clock jumps to", "Europe/Warsaw", "0 2,3 * * *", at(2026, 3, 29, 1, 0), "2026-03-29 03:00"},
		{"skipped in New York", "America/New_York", "30 2 * * *", time.Date(2026, 3, 8, 1, 0, 0, 0, mustLoad("America/New_York")), "2026-03-08 02:30"},
		{"skipped in Lord Howe", "Australia/Lord_Howe", "15 2 * * *", time.Date(2026, 10, 4, 1, 0, 0, 0, lordHowe), "2026-10-04 02:15"},
		{"not skipped in Lord Howe", "Australia/Lord_Howe", "30 2 * * *", time.Date(2026, 10, 4, 1, 0, 0, 0, lordHowe), "2026-10-04 02:30"},
		{"repeated, the first time", "Europe/Warsaw", "30 2 * * *", at(2026, 10, 25, 1, 0), "2026-10-25 02:30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := newSchedule(&config.Train{Timezone: tc.tz}, tc.spec)
			if err != nil {
				t.Fatalf("newSchedule(%q): %v", tc.spec, err)
			}
			next := sc.Next(tc.from)
			if got := sc.nominal(next).Format("2006-01-02 15:04"); got != tc.want {
				t.Errorf("nominal(%v): got %s, want %s", next, got, tc.want)
			}
		})
	}
}

func TestScheduleRejects(t *testing.T) {
	for _, spec := range []string{"@every 1h", "61 14 * * *", "0 14 * *"} {
		if _, err := newSchedule(&config.Train{Timezone: "Europe/Warsaw"}, spec); err == nil {
			t.Errorf("newSchedule(%q): got nil error, want one", spec)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{15 * time.Minute, "15 minutes"},
		{time.Minute, "1 minute"},
		{time.Hour, "1 hour"},
		{150 * time.Minute, "2 hours 30 minutes"},
		{61 * time.Minute, "1 hour 1 minute"},
	} {
		if got := humanDuration(tc.d); got != tc.want {
			t.Errorf("humanDuration(%v): got %q, want %q", tc.d, got, tc.want)
		}
	}
}
