package acl

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST cases need zone data even where the system has none
)

func loadLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

func parseSpans(t *testing.T, ss ...string) []Span {
	t.Helper()
	out := make([]Span, len(ss))
	for i, s := range ss {
		sp, err := ParseSpan(s)
		if err != nil {
			t.Fatalf("ParseSpan(%q): %v", s, err)
		}
		out[i] = sp
	}
	return out
}

func mustFreeze(t *testing.T, from, to, msg string, loc *time.Location) Freeze {
	t.Helper()
	f, err := ParseFreeze(from, to, msg, loc)
	if err != nil {
		t.Fatalf("ParseFreeze(%q, %q): %v", from, to, err)
	}
	return f
}

// local reads "2006-01-02 15:04" as a wall time in loc; only for times that
// exist exactly once there.
func localAt(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// utc reads "2006-01-02 15:04" as a UTC instant; DST cases name instants
// this way because the local reading is ambiguous or missing.
func utcAt(t *testing.T, s string) time.Time { return localAt(t, time.UTC, s) }

func fmtTime(v time.Time) string {
	if v.IsZero() {
		return "zero"
	}
	return v.Format("2006-01-02 15:04:05.999999999 MST") + " (" + v.UTC().Format("15:04:05.999999999Z") + ")"
}

func sameTime(a, b time.Time) bool { return a.IsZero() && b.IsZero() || a.Equal(b) }

type atCase struct {
	name       string
	at         time.Time
	open       bool
	reason     string // substring; checked when set
	next       time.Time
	closes     time.Time
	scheduleOf *Schedule // overrides the table's schedule when set
}

func runAt(t *testing.T, s Schedule, tests []atCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched := s
			if tt.scheduleOf != nil {
				sched = *tt.scheduleOf
			}
			got := sched.At(tt.at)
			if got.Open != tt.open {
				t.Errorf("At(%s).Open: got %v, want %v (reason %q)", fmtTime(tt.at), got.Open, tt.open, got.Reason)
			}
			if tt.reason != "" && !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("At(%s).Reason: got %q, want it to contain %q", fmtTime(tt.at), got.Reason, tt.reason)
			}
			if got.Open && got.Reason != "" {
				t.Errorf("At(%s).Reason: got %q, want empty when open", fmtTime(tt.at), got.Reason)
			}
			if !sameTime(got.NextOpen, tt.next) {
				t.Errorf("At(%s).NextOpen: got %s, want %s", fmtTime(tt.at), fmtTime(got.NextOpen), fmtTime(tt.next))
			}
			if !sameTime(got.ClosesAt, tt.closes) {
				t.Errorf("At(%s).ClosesAt: got %s, want %s", fmtTime(tt.at), fmtTime(got.ClosesAt), fmtTime(tt.closes))
			}
		})
	}
}

func TestAtBoundaries(t *testing.T) {
	waw := loadLoc(t, "Europe/Warsaw")
	s := Schedule{Loc: waw, Weekly: parseSpans(t, "Mon-Thu 09:00-16:00")}
	at := func(v string) time.Time { return localAt(t, waw, v) }
	ns := time.Nanosecond
	// 2026-06-01 is a Monday.
	runAt(t, s, []atCase{
		{name: "opening minute is open", at: at("2026-06-01 09:00"), open: true, closes: at("2026-06-01 16:00")},
		{name: "just before opening is closed", at: at("2026-06-01 09:00").Add(-ns), reason: "outside the deploy window (Mon-Thu 09:00-16:00 Europe/Warsaw)", next: at("2026-06-01 09:00")},
		{name: "one nanosecond before closing is open", at: at("2026-06-01 16:00").Add(-ns), open: true, closes: at("2026-06-01 16:00")},
		{name: "closing minute is closed", at: at("2026-06-01 16:00"), next: at("2026-06-02 09:00")},
		{name: "mid-second before opening", at: at("2026-06-01 08:59").Add(30 * time.Second), next: at("2026-06-01 09:00")},
		{name: "across the weekend from Thursday close", at: at("2026-06-04 16:00"), next: at("2026-06-08 09:00")},
		{name: "across the weekend from Saturday", at: at("2026-06-06 12:00"), next: at("2026-06-08 09:00")},
		{name: "instant given in another zone", at: at("2026-06-01 10:00").UTC(), open: true, closes: at("2026-06-01 16:00")},
	})
}

func TestAtSpanningMidnight(t *testing.T) {
	waw := loadLoc(t, "Europe/Warsaw")
	s := Schedule{Loc: waw, Weekly: parseSpans(t, "Fri 22:00-02:00")}
	at := func(v string) time.Time { return localAt(t, waw, v) }
	weekend := Schedule{Loc: waw, Weekly: parseSpans(t, "Sat-Sun 00:00-24:00")}
	full := Schedule{Loc: waw, Weekly: parseSpans(t, "daily 00:00-24:00")}
	// 2026-06-05 is a Friday.
	runAt(t, s, []atCase{
		{name: "Fri 21:59 closed", at: at("2026-06-05 21:59"), next: at("2026-06-05 22:00")},
		{name: "Fri 22:00 open", at: at("2026-06-05 22:00"), open: true, closes: at("2026-06-06 02:00")},
		{name: "Sat 00:00 open", at: at("2026-06-06 00:00"), open: true, closes: at("2026-06-06 02:00")},
		{name: "Sat 01:59 open", at: at("2026-06-06 01:59"), open: true, closes: at("2026-06-06 02:00")},
		{name: "Sat 02:00 closed", at: at("2026-06-06 02:00"), next: at("2026-06-12 22:00")},
		{name: "Fri 01:00 closed, Thursday has no window", at: at("2026-06-05 01:00"), next: at("2026-06-05 22:00")},
		{name: "adjacent days merge into one open period", scheduleOf: &weekend, at: at("2026-06-06 00:00"), open: true, closes: at("2026-06-08 00:00")},
		{name: "Sunday 23:59 still open", scheduleOf: &weekend, at: at("2026-06-07 23:59"), open: true, closes: at("2026-06-08 00:00")},
		{name: "Monday closed", scheduleOf: &weekend, at: at("2026-06-08 00:00"), next: at("2026-06-13 00:00")},
		{name: "every day all day never closes", scheduleOf: &full, at: at("2026-06-08 00:00"), open: true},
	})
}

func TestAtDSTWarsaw(t *testing.T) {
	waw := loadLoc(t, "Europe/Warsaw")
	gap := Schedule{Loc: waw, Weekly: parseSpans(t, "Sun 02:00-03:30")}
	overlap := Schedule{Loc: waw, Weekly: parseSpans(t, "Sun 02:00-03:00")}
	reenter := Schedule{Loc: waw, Weekly: parseSpans(t, "Sun 02:30-04:00")}
	night := Schedule{Loc: waw, Weekly: parseSpans(t, "Sat 22:00-02:30")}
	// 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST.
	// 2026-10-25: 03:00 CEST (01:00Z) falls back to 02:00 CET.
	runAt(t, gap, []atCase{
		{name: "spring 01:59 CET closed, opens at first real instant", at: utcAt(t, "2026-03-29 00:59"), next: utcAt(t, "2026-03-29 01:00")},
		{name: "spring 03:00 CEST open", at: utcAt(t, "2026-03-29 01:00"), open: true, closes: utcAt(t, "2026-03-29 01:30")},
		{name: "spring 03:29 CEST open", at: utcAt(t, "2026-03-29 01:29"), open: true, closes: utcAt(t, "2026-03-29 01:30")},
		{name: "spring 03:30 CEST closed", at: utcAt(t, "2026-03-29 01:30"), next: utcAt(t, "2026-04-05 00:00")},
		{name: "week before, normal length", at: utcAt(t, "2026-03-22 01:00"), open: true, closes: utcAt(t, "2026-03-22 02:30")},
	})
	runAt(t, overlap, []atCase{
		{name: "fall 01:59 CEST closed", at: utcAt(t, "2026-10-24 23:59"), next: utcAt(t, "2026-10-25 00:00")},
		{name: "fall first 02:30 (CEST) open", at: utcAt(t, "2026-10-25 00:30"), open: true, closes: utcAt(t, "2026-10-25 02:00")},
		{name: "fall second 02:30 (CET) open", at: utcAt(t, "2026-10-25 01:30"), open: true, closes: utcAt(t, "2026-10-25 02:00")},
		{name: "fall 03:00 CET closed", at: utcAt(t, "2026-10-25 02:00"), next: utcAt(t, "2026-11-01 01:00")},
	})
	runAt(t, reenter, []atCase{
		{name: "fall 02:59 CEST open, clocks go back out of the window", at: utcAt(t, "2026-10-25 00:59"), open: true, closes: utcAt(t, "2026-10-25 01:00")},
		{name: "fall 02:00 CET closed, the window comes round again", at: utcAt(t, "2026-10-25 01:00"), next: utcAt(t, "2026-10-25 01:30")},
		{name: "fall 02:30 CET open", at: utcAt(t, "2026-10-25 01:30"), open: true, closes: utcAt(t, "2026-10-25 03:00")},
	})
	runAt(t, night, []atCase{
		{name: "spring overnight window ends at the jump", at: localAt(t, waw, "2026-03-28 23:00"), open: true, closes: utcAt(t, "2026-03-29 01:00")},
	})
}

func TestAtDSTNewYork(t *testing.T) {
	ny := loadLoc(t, "America/New_York")
	gap := Schedule{Loc: ny, Weekly: parseSpans(t, "Sun 02:00-03:30")}
	lost := Schedule{Loc: ny, Weekly: parseSpans(t, "Sun 02:00-02:30")}
	overlap := Schedule{Loc: ny, Weekly: parseSpans(t, "Sun 01:00-02:00")}
	reenter := Schedule{Loc: ny, Weekly: parseSpans(t, "Sun 01:30-02:00")}
	// 2026-03-08: 02:00 EST (07:00Z) jumps to 03:00 EDT.
	// 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST.
	runAt(t, gap, []atCase{
		{name: "spring 01:59 EST closed, opens at first real instant", at: utcAt(t, "2026-03-08 06:59"), next: utcAt(t, "2026-03-08 07:00")},
		{name: "spring 03:00 EDT open", at: utcAt(t, "2026-03-08 07:00"), open: true, closes: utcAt(t, "2026-03-08 07:30")},
		{name: "spring 03:30 EDT closed", at: utcAt(t, "2026-03-08 07:30"), next: utcAt(t, "2026-03-15 06:00")},
	})
	runAt(t, lost, []atCase{
		{name: "spring window inside the gap never opens that day", at: utcAt(t, "2026-03-08 06:00"), next: utcAt(t, "2026-03-15 06:00")},
		{name: "spring first instant after the gap closed", at: utcAt(t, "2026-03-08 07:00"), next: utcAt(t, "2026-03-15 06:00")},
	})
	runAt(t, overlap, []atCase{
		{name: "fall 00:59 EDT closed", at: utcAt(t, "2026-11-01 04:59"), next: utcAt(t, "2026-11-01 05:00")},
		{name: "fall first 01:15 (EDT) open, two hours long", at: utcAt(t, "2026-11-01 05:15"), open: true, closes: utcAt(t, "2026-11-01 07:00")},
		{name: "fall second 01:30 (EST) open", at: utcAt(t, "2026-11-01 06:30"), open: true, closes: utcAt(t, "2026-11-01 07:00")},
		{name: "fall 02:00 EST closed", at: utcAt(t, "2026-11-01 07:00"), next: utcAt(t, "2026-11-08 06:00")},
	})
	runAt(t, reenter, []atCase{
		{name: "fall 01:45 EDT open, clocks go back out of the window", at: utcAt(t, "2026-11-01 05:45"), open: true, closes: utcAt(t, "2026-11-01 06:00")},
		{name: "fall 01:00 EST closed", at: utcAt(t, "2026-11-01 06:00"), next: utcAt(t, "2026-11-01 06:30")},
		{name: "fall 01:30 EST open", at: utcAt(t, "2026-11-01 06:30"), open: true, closes: utcAt(t, "2026-11-01 07:00")},
	})
}

func TestAtFreezes(t *testing.T) {
	waw := loadLoc(t, "Europe/Warsaw")
	at := func(v string) time.Time { return localAt(t, waw, v) }
	weekly := parseSpans(t, "Mon-Fri 09:00-17:00")
	yearEnd := mustFreeze(t, "2026-12-20", "2027-01-03", "year-end freeze", waw)
	s := Schedule{Loc: waw, Weekly: weekly, Freezes: []Freeze{yearEnd}}
	endsMidWindow := Schedule{Loc: waw, Weekly: weekly, Freezes: []Freeze{mustFreeze(t, "2026-12-20", "2027-01-04 11:00", "year-end freeze", waw)}}
	startsMidWindow := Schedule{Loc: waw, Weekly: weekly, Freezes: []Freeze{mustFreeze(t, "2026-12-18 15:00", "2027-01-03", "year-end freeze", waw)}}
	chained := Schedule{Loc: waw, Weekly: weekly, Freezes: []Freeze{
		mustFreeze(t, "2026-12-20", "2026-12-27", "first half", waw),
		mustFreeze(t, "2026-12-28", "2027-01-06", "second half", waw),
	}}
	overlapping := Schedule{Loc: waw, Freezes: []Freeze{
		mustFreeze(t, "2026-12-20", "2026-12-27", "short", waw),
		mustFreeze(t, "2026-12-21", "2027-01-03", "long", waw),
	}}
	backToBack := Schedule{Loc: waw, Weekly: weekly, Freezes: []Freeze{
		mustFreeze(t, "2026-12-21", "2026-12-27", "first", waw),
		mustFreeze(t, "2027-01-04", "2027-01-10", "third", waw),
		mustFreeze(t, "2026-12-28", "2027-01-03", "", waw),
	}}
	always := Schedule{Loc: waw, Freezes: []Freeze{yearEnd}}
	unmessaged := Schedule{Loc: waw, Freezes: []Freeze{mustFreeze(t, "2026-12-20", "2027-01-03", "", waw)}}
	forever := Schedule{Loc: waw, Weekly: weekly, Freezes: []Freeze{mustFreeze(t, "2026-01-01", "2027-06-01", "migration", waw)}}
	var zero Schedule
	runAt(t, s, []atCase{
		{name: "freeze over a window", at: at("2026-12-22 10:00"), reason: "frozen: year-end freeze (until 2027-01-04 00:00 CET)", next: at("2027-01-04 09:00")},
		{name: "freeze reason exact", at: at("2026-12-20 00:00"), reason: "frozen: year-end freeze (until 2027-01-04 00:00 CET)", next: at("2027-01-04 09:00")},
		{name: "before the freeze the window closes normally", at: at("2026-12-18 16:00"), open: true, closes: at("2026-12-18 17:00")},
		{name: "next window falls in a freeze", at: at("2026-12-18 17:00"), reason: "outside the deploy window", next: at("2027-01-04 09:00")},
		{name: "freeze ends mid-window", scheduleOf: &endsMidWindow, at: at("2026-12-28 10:00"), reason: "until 2027-01-04 11:00 CET", next: at("2027-01-04 11:00")},
		{name: "freeze starts mid-window", scheduleOf: &startsMidWindow, at: at("2026-12-18 14:00"), open: true, closes: at("2026-12-18 15:00")},
		{name: "chained freezes", scheduleOf: &chained, at: at("2026-12-22 10:00"), reason: "first half", next: at("2027-01-07 09:00")},
		{name: "overlapping freezes report the longest", scheduleOf: &overlapping, at: at("2026-12-22 10:00"), reason: "frozen: long (until 2027-01-04 00:00 CET)", next: at("2027-01-04 00:00")},
		// The freeze in force ends before the next one does: both ends
		// are named, the second being when deploys open again.
		{name: "overlapping freezes name the later end", scheduleOf: &overlapping, at: at("2026-12-20 10:00"), reason: "frozen: short (until 2026-12-28 00:00 CET), then long (until 2027-01-04 00:00 CET)", next: at("2027-01-04 00:00")},
		{name: "back-to-back freezes name the later end", scheduleOf: &backToBack, at: at("2026-12-21 10:00"), reason: "frozen: first (until 2026-12-28 00:00 CET), then another freeze (until 2027-01-04 00:00 CET), then third (until 2027-01-11 00:00 CET)", next: at("2027-01-11 09:00")},
		{name: "chained freezes name the later end", scheduleOf: &chained, at: at("2026-12-22 10:00"), reason: "frozen: first half (until 2026-12-28 00:00 CET), then second half (until 2027-01-07 00:00 CET)", next: at("2027-01-07 09:00")},
		{name: "always open until the freeze", scheduleOf: &always, at: at("2026-12-19 12:00"), open: true, closes: at("2026-12-20 00:00")},
		{name: "always open, frozen", scheduleOf: &always, at: at("2026-12-25 12:00"), reason: "year-end freeze", next: at("2027-01-04 00:00")},
		{name: "always open after the freeze, forever", scheduleOf: &always, at: at("2027-01-04 00:00"), open: true},
		{name: "freeze without a message", scheduleOf: &unmessaged, at: at("2026-12-25 12:00"), reason: "frozen (until 2027-01-04 00:00 CET)", next: at("2027-01-04 00:00")},
		{name: "never opens within a year", scheduleOf: &forever, at: at("2026-03-02 10:00"), reason: "migration"},
		{name: "zero schedule is always open", scheduleOf: &zero, at: at("2026-12-25 12:00"), open: true},
	})
}

// TestAtFreezeAfterAGap: a freeze that starts after the one in force has
// ended, deploys open between them, is not named as its continuation.
func TestAtFreezeAfterAGap(t *testing.T) {
	waw := loadLoc(t, "Europe/Warsaw")
	s := Schedule{Loc: waw, Freezes: []Freeze{
		mustFreeze(t, "2026-12-21", "2026-12-23", "first", waw),
		mustFreeze(t, "2026-12-26", "2026-12-27", "second", waw),
	}}
	got := s.At(localAt(t, waw, "2026-12-22 10:00"))
	if want := "frozen: first (until 2026-12-24 00:00 CET)"; got.Reason != want {
		t.Errorf("At: got reason %q, want %q", got.Reason, want)
	}
}

func TestParseSpan(t *testing.T) {
	days := func(ds ...time.Weekday) [7]bool {
		var out [7]bool
		for _, d := range ds {
			out[d] = true
		}
		return out
	}
	const (
		sun, mon, tue, wed, thu, fri, sat = time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday
	)
	tests := []struct {
		in     string
		want   Span
		String string
	}{
		{"Mon-Thu 09:00-16:00", Span{days(mon, tue, wed, thu), 540, 960}, "Mon-Thu 09:00-16:00"},
		{"Mon,Wed,Fri 10:00-12:00", Span{days(mon, wed, fri), 600, 720}, "Mon,Wed,Fri 10:00-12:00"},
		{"Sat-Sun 00:00-24:00", Span{days(sat, sun), 0, 1440}, "Sat-Sun 00:00-24:00"},
		{"Fri 22:00-02:00", Span{days(fri), 1320, 120}, "Fri 22:00-02:00"},
		{"Sun-Tue 09:00-17:00", Span{days(sun, mon, tue), 540, 1020}, "Sun-Tue 09:00-17:00"},
		{"Fri-Mon 09:00-17:00", Span{days(fri, sat, sun, mon), 540, 1020}, "Fri-Mon 09:00-17:00"},
		{"Sun-Tue,Thu 09:00-10:00", Span{days(sun, mon, tue, thu), 540, 600}, "Sun-Tue,Thu 09:00-10:00"},
		{"daily 09:00-17:00", Span{days(sun, mon, tue, wed, thu, fri, sat), 540, 1020}, "daily 09:00-17:00"},
		{"weekdays 9:00-17:30", Span{days(mon, tue, wed, thu, fri), 540, 1050}, "Mon-Fri 09:00-17:30"},
		{"Weekends 10:00-14:00", Span{days(sat, sun), 600, 840}, "Sat-Sun 10:00-14:00"},
		{"monday,WEDNESDAY,friDAY 10:00-12:00", Span{days(mon, wed, fri), 600, 720}, "Mon,Wed,Fri 10:00-12:00"},
		{"  Mon, Wed  09:00 - 17:00 ", Span{days(mon, wed), 540, 1020}, "Mon,Wed 09:00-17:00"},
		{"Mon 00:00-24:00", Span{days(mon), 0, 1440}, "Mon 00:00-24:00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSpan(tt.in)
			if err != nil {
				t.Fatalf("ParseSpan(%q): got error %v, want %+v", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("ParseSpan(%q): got %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.String {
				t.Errorf("String(): got %q, want %q", got.String(), tt.String)
			}
			again, err := ParseSpan(got.String())
			if err != nil || again != got {
				t.Errorf("ParseSpan(String()) = %+v, %v; want %+v, nil", again, err, got)
			}
		})
	}
}

func TestParseSpanErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Thr 09:00-17:00", `unknown day "Thr"; use Mon, Tue,`},
		{"Mon-Thr 09:00-17:00", `unknown day "Thr"`},
		{"Mo 09:00-17:00", `unknown day "Mo"`},
		{"Mon,,Tue 09:00-17:00", "missing day"},
		{"Mon-Mon 09:00-17:00", `day range "Mon-Mon" starts and ends on the same day`},
		{"Mon 25:00-26:00", `bad time "25:00"`},
		{"Mon 09:00-24:01", `bad time "24:01"`},
		{"Mon 09:60-10:00", `bad time "09:60"`},
		{"Mon 9-17", `bad time "9"`},
		{"Mon 09:00-17:00x", `bad time "17:00x"`},
		{"Mon 123:00-17:00", `bad time "123:00"`},
		{"Mon 24:00-02:00", "cannot start at 24:00"},
		{"Mon 09:00-09:00", `window "Mon 09:00-09:00" starts and ends at 09:00, which would leave it open 24 hours; for a whole day write Mon 00:00-24:00`},
		{"weekdays 00:00-00:00", "for a whole day write weekdays 00:00-24:00"},
		{"Fri 22:00 - 22:00", "starts and ends at 22:00"},
		{"Mon 09:00", `bad time range "09:00"`},
		{"Mon-Fri 09:00-12:00,13:00-17:00", `window "Mon-Fri 09:00-12:00,13:00-17:00" holds more than one time range; a period is days and one range: list each as its own`},
		{"Mon-Fri 09:00-12:00, 13:00-17:00", "holds more than one time range"},
		{"Mon 09:00-17:00 Tue 10:00-11:00", "holds more than one time range"},
		{"Mon 09:00-17:00, Sat 10:00-12:00", "holds more than one time range"},
		{"09:00-17:00", "has no days"},
		{"Mon-Fri", "has no time range"},
		{"", "has no time range"},
		// Dashes copied from a document or a chat, named and replaced.
		{"Mon-Fri 09:00\u201317:00", `window "Mon-Fri 09:00–17:00" has an en dash (U+2013) where ranges take the ASCII hyphen-minus; write it "Mon-Fri 09:00-17:00"`},
		{"Mon\u2013Fri 09:00\u201317:00", `has an en dash (U+2013) where ranges take the ASCII hyphen-minus; write it "Mon-Fri 09:00-17:00"`},
		{"Mon-Fri 09:00 \u2014 17:00", `has an em dash (U+2014) where ranges take the ASCII hyphen-minus; write it "Mon-Fri 09:00 - 17:00"`},
		{"Mon\u2212Fri 09:00-17:00", `has a minus sign (U+2212) where ranges take the ASCII hyphen-minus; write it "Mon-Fri 09:00-17:00"`},
		{"Mon-Fri 09:00\u201017:00", `has a hyphen (U+2010)`},
		{"Mon-Fri 09:00\uff0d17:00", `has a fullwidth hyphen-minus (U+FF0D)`},
		{"Mon-Fri 09:00\u2E3A17:00", `has a dash (U+2E3A) where ranges take the ASCII hyphen-minus; write it "Mon-Fri 09:00-17:00"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSpan(tt.in)
			if err == nil {
				t.Fatalf("ParseSpan(%q): got %+v, want error containing %q", tt.in, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSpan(%q): got error %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestParseFreeze(t *testing.T) {
	waw := loadLoc(t, "Europe/Warsaw")
	ny := loadLoc(t, "America/New_York")
	tests := []struct {
		name         string
		from, to     string
		loc          *time.Location
		wantFrom     time.Time
		wantTo       time.Time
		wantToString string
	}{
		{"plain dates, To inclusive", "2026-12-20", "2027-01-03", waw, utcAt(t, "2026-12-19 23:00"), utcAt(t, "2027-01-03 23:00"), "2027-01-04 00:00 CET"},
		{"date and time, To exclusive", "2026-12-20 18:00", "2027-01-03 06:00", waw, utcAt(t, "2026-12-20 17:00"), utcAt(t, "2027-01-03 05:00"), "2027-01-03 06:00 CET"},
		{"ISO T separator", "2026-12-20T18:00", "2026-12-21", waw, utcAt(t, "2026-12-20 17:00"), utcAt(t, "2026-12-21 23:00"), "2026-12-22 00:00 CET"},
		{"one whole day", "2026-12-20", "2026-12-20", ny, utcAt(t, "2026-12-20 05:00"), utcAt(t, "2026-12-21 05:00"), "2026-12-21 00:00 EST"},
		{"nil location is UTC", "2026-12-20", "2026-12-20 12:00", nil, utcAt(t, "2026-12-20 00:00"), utcAt(t, "2026-12-20 12:00"), "2026-12-20 12:00 UTC"},
		// Go's time.Date resolves these inconsistently between zones; a freeze takes the first instant at or after the wall time.
		{"Warsaw spring gap starts after the jump", "2026-03-29 02:30", "2026-03-29 12:00", waw, utcAt(t, "2026-03-29 01:00"), utcAt(t, "2026-03-29 10:00"), "2026-03-29 12:00 CEST"},
		{"New York spring gap starts after the jump", "2026-03-08 02:30", "2026-03-08 12:00", ny, utcAt(t, "2026-03-08 07:00"), utcAt(t, "2026-03-08 16:00"), "2026-03-08 12:00 EDT"},
		{"Warsaw repeated time is the first one", "2026-10-25 02:30", "2026-10-26", waw, utcAt(t, "2026-10-25 00:30"), utcAt(t, "2026-10-26 23:00"), "2026-10-27 00:00 CET"},
		{"New York repeated time is the first one", "2026-11-01 01:30", "2026-11-01 12:00", ny, utcAt(t, "2026-11-01 05:30"), utcAt(t, "2026-11-01 17:00"), "2026-11-01 12:00 EST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFreeze(tt.from, tt.to, " maintenance ", tt.loc)
			if err != nil {
				t.Fatalf("ParseFreeze(%q, %q): got error %v", tt.from, tt.to, err)
			}
			if !got.From.Equal(tt.wantFrom) {
				t.Errorf("From: got %s, want %s", fmtTime(got.From), fmtTime(tt.wantFrom))
			}
			if !got.To.Equal(tt.wantTo) {
				t.Errorf("To: got %s, want %s", fmtTime(got.To), fmtTime(tt.wantTo))
			}
			if s := got.To.Format("2006-01-02 15:04 MST"); s != tt.wantToString {
				t.Errorf("To in zone: got %s, want %s", s, tt.wantToString)
			}
			if got.Message != "maintenance" {
				t.Errorf("Message: got %q, want %q", got.Message, "maintenance")
			}
		})
	}
}

func TestParseFreezeErrors(t *testing.T) {
	waw := loadLoc(t, "Europe/Warsaw")
	tests := []struct{ name, from, to, want string }{
		{"bad month", "2026-13-01", "2027-01-03", `freeze from: bad date "2026-13-01"`},
		{"bad to", "2026-12-20", "soon", `freeze to: bad date "soon"`},
		{"seconds not accepted", "2026-12-20 18:00:00", "2027-01-03", `bad date "2026-12-20 18:00:00"`},
		{"ends before it starts", "2026-12-21", "2026-12-19", "freeze to 2026-12-19 takes in that whole day, so it ends at 2026-12-20 00:00 CET, not after it starts at 2026-12-21 00:00 CET"},
		{"ends the day before it starts", "2026-12-21", "2026-12-20", "freeze to 2026-12-20 takes in that whole day, so it ends at 2026-12-21 00:00 CET, not after it starts at 2026-12-21 00:00 CET"},
		{"ends when it starts", "2026-12-20 10:00", "2026-12-20 10:00", "freeze ends at 2026-12-20 10:00 CET, not after it starts at 2026-12-20 10:00 CET"},
		{"both inside the same spring gap", "2026-03-29 02:10", "2026-03-29 02:40", "not after it starts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFreeze(tt.from, tt.to, "x", waw)
			if err == nil {
				t.Fatalf("ParseFreeze(%q, %q): got %+v, want error containing %q", tt.from, tt.to, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseFreeze(%q, %q): got error %q, want it to contain %q", tt.from, tt.to, err, tt.want)
			}
		})
	}
}

func TestScheduleString(t *testing.T) {
	waw := loadLoc(t, "Europe/Warsaw")
	tests := []struct {
		name string
		s    Schedule
		want string
	}{
		{"two spans", Schedule{Loc: waw, Weekly: parseSpans(t, "Mon-Thu 09:00-16:00", "Fri 09:00-12:00")}, "Mon-Thu 09:00-16:00, Fri 09:00-12:00 (Europe/Warsaw)"},
		{"overnight", Schedule{Loc: waw, Weekly: parseSpans(t, "Fri 22:00-02:00")}, "Fri 22:00-02:00 (Europe/Warsaw)"},
		{"no weekly spans", Schedule{Loc: waw}, "always (Europe/Warsaw)"},
		{"zero", Schedule{}, "always (UTC)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("String(): got %q, want %q", got, tt.want)
			}
		})
	}
}

// oracleOpen judges t by its definition, without searching.
func oracleOpen(s Schedule, t time.Time) bool {
	for _, f := range s.Freezes {
		if !t.Before(f.From) && t.Before(f.To) {
			return false
		}
	}
	if len(s.Weekly) == 0 {
		return true
	}
	l := t.In(s.Loc)
	today, yesterday := l.Weekday(), (l.Weekday()+6)%7
	m := l.Hour()*60 + l.Minute()
	for _, sp := range s.Weekly {
		start, end := int(sp.Start), int(sp.End)
		if end > start {
			if sp.Days[today] && start <= m && m < end {
				return true
			}
			continue
		}
		if (sp.Days[today] && m >= start) || (sp.Days[yesterday] && m < end) {
			return true
		}
	}
	return false
}

// TestAtMatchesOracle judges random instants of 2026, half of them near the
// DST changes or the freezes' edges, and checks At against the definition: Open agrees, NextOpen is
// open with nothing open before it, ClosesAt is closed with nothing closed
// before it. The minute-by-minute walk is done for a sample to stay fast;
// every window and freeze edge is on a whole minute, so no open or closed
// stretch is shorter than a minute.
func TestAtMatchesOracle(t *testing.T) {
	year := utcAt(t, "2026-01-01 00:00")
	for _, zone := range []string{"Europe/Warsaw", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			loc := loadLoc(t, zone)
			s := Schedule{
				Loc:    loc,
				Weekly: parseSpans(t, "Mon-Thu 09:00-16:00", "Fri 22:00-02:30", "Sun 01:30-03:30", "Sat 02:00-02:45", "Sun 00:30-01:15"),
				Freezes: []Freeze{
					mustFreeze(t, "2026-07-01", "2026-07-15 10:00", "summer", loc),
					mustFreeze(t, "2026-12-20", "2027-01-03", "year-end", loc),
				},
			}
			var changes []time.Time
			for u := year; u.Year() == 2026; {
				_, end := u.In(loc).ZoneBounds()
				if end.IsZero() {
					break
				}
				changes = append(changes, end)
				u = end
			}
			if len(changes) < 2 {
				t.Fatalf("DST changes in 2026: got %d, want 2 or more", len(changes))
			}
			var freezeEdges []time.Time
			for _, f := range s.Freezes {
				freezeEdges = append(freezeEdges, f.From, f.To)
			}
			near := func(rng *rand.Rand, edges []time.Time) time.Time {
				e := edges[rng.IntN(len(edges))]
				return e.Add(time.Duration(rng.Int64N(int64(6*24*time.Hour))) - 3*24*time.Hour)
			}
			rng := rand.New(rand.NewPCG(2026, uint64(len(zone))))
			for i := range 2000 {
				var at time.Time
				switch i % 4 {
				case 0, 1:
					at = year.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
				case 2:
					at = near(rng, changes)
				default:
					at = near(rng, freezeEdges)
				}
				if rng.IntN(4) == 0 {
					at = at.Truncate(time.Minute) // land on edges too
				}
				checkAgainstOracle(t, s, at, i%20 == 0)
			}
		})
	}
}

func checkAgainstOracle(t *testing.T, s Schedule, at time.Time, walk bool) {
	t.Helper()
	got := s.At(at)
	want := oracleOpen(s, at)
	if got.Open != want {
		t.Fatalf("At(%s).Open: got %v, want %v", fmtTime(at.In(s.Loc)), got.Open, want)
	}
	edge, name := got.NextOpen, "NextOpen"
	if got.Open {
		edge, name = got.ClosesAt, "ClosesAt"
	}
	if edge.IsZero() {
		t.Fatalf("At(%s).%s: got zero, want an instant", fmtTime(at.In(s.Loc)), name)
	}
	if edge.Location() != s.Loc {
		t.Errorf("At(%s).%s location: got %s, want %s", fmtTime(at), name, edge.Location(), s.Loc)
	}
	if !edge.After(at) {
		t.Fatalf("At(%s).%s: got %s, want after it", fmtTime(at.In(s.Loc)), name, fmtTime(edge))
	}
	if oracleOpen(s, edge) == got.Open {
		t.Fatalf("At(%s).%s: got %s, which is open=%v, want open=%v", fmtTime(at.In(s.Loc)), name, fmtTime(edge), got.Open, !got.Open)
	}
	if before := edge.Add(-time.Nanosecond); !before.Before(at) && oracleOpen(s, before) != got.Open {
		t.Fatalf("At(%s).%s: got %s, but %s is already open=%v", fmtTime(at.In(s.Loc)), name, fmtTime(edge), fmtTime(before), !got.Open)
	}
	if !walk {
		return
	}
	for u := at; u.Before(edge); u = u.Add(time.Minute) {
		if oracleOpen(s, u) != got.Open {
			t.Fatalf("At(%s).%s: got %s, but %s is already open=%v", fmtTime(at.In(s.Loc)), name, fmtTime(edge), fmtTime(u.In(s.Loc)), !got.Open)
		}
	}
}
