package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEitherDays: a train schedule naming days of the month and of the
// week comes on every day that is either, as cron reads it: "the first
// Monday of a month" written 1-7 and 1 leaves on seven days and every
// Monday. Each such schedule is listed with its key; the config is not
// refused, as it may be meant.
func TestEitherDays(t *testing.T) {
	tests := []struct {
		spec string
		want string // "" for none
	}{
		{"0 14 1-7 * 1", `trains.t.departure: "0 14 1-7 * 1" names days of the month (1-7) and of the week (1), so it comes on every day that is either, as cron reads it, not only on those that are both: for one of them alone, write * in the other`},
		{"0 14 1-7 * MON", `trains.t.departure: "0 14 1-7 * MON" names days of the month (1-7) and of the week (MON), so it comes on every day that is either, as cron reads it, not only on those that are both: for one of them alone, write * in the other`},
		{"0 14 1-31 * 1-5", `trains.t.departure: "0 14 1-31 * 1-5" names days of the month (1-31) and of the week (1-5), so it comes on every day that is either, as cron reads it, not only on those that are both: for one of them alone, write * in the other`},
		{"0 14 * * 1-5", ""},
		{"0 14 1 * *", ""},
		{"0 14 ? * 1", ""},
		{"0 14 */2 * 1", `trains.t.departure: "0 14 */2 * 1" names days of the month (*/2) and of the week (1), so it comes on every day that is either, as cron reads it, not only on those that are both: for one of them alone, write * in the other`},
		{"0 14 */1 * 1", ""}, // every day of the month, as *
		{"@monthly", ""},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			y := minimalYAML + "trains:\n  t:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"" + tt.spec + "\"\n"
			c := mustParse(t, filepath.Join(t.TempDir(), "switchman.yaml"), y, nil)
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if got := c.EitherDays(); !slices.Equal(got, want) {
				t.Errorf("EitherDays: got %q, want %q", got, want)
			}
		})
	}
}

// TestEitherDaysEveryKey: boarding and reminder are listed as departure
// is, each train in name order.
func TestEitherDaysEveryKey(t *testing.T) {
	y := minimalYAML + "trains:\n" +
		"  b:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 1-7 * 1\"\n    reminder: \"45 13 1-7 * 1\"\n    departure: \"0 14 * * 1\"\n" +
		"  a:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 15 * 5\"\n"
	c := mustParse(t, filepath.Join(t.TempDir(), "switchman.yaml"), y, nil)
	got := c.EitherDays()
	var keys []string
	for _, g := range got {
		k, _, _ := strings.Cut(g, ":")
		keys = append(keys, k)
	}
	if want := []string{"trains.a.departure", "trains.b.boarding", "trains.b.reminder"}; !slices.Equal(keys, want) {
		t.Errorf("EitherDays keys: got %q, want %q (all: %q)", keys, want, got)
	}
}
