package acl

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Deploy windows and freezes. Everything here is pure: the instant to judge
// is passed in and nothing reads the clock.
//
// Windows are wall-clock rules: "Mon-Thu 09:00-16:00" in Europe/Warsaw means
// whatever the clocks in Warsaw show, so on a daylight-saving day a window can
// be an hour shorter or longer in real time. A wall time skipped by a
// spring-forward change is never shown on a clock; a window covering it opens
// at the first instant that exists (03:00 CEST for 02:00-03:30). A wall time
// repeated by a fall-back change is shown twice and is judged the same both
// times.
//
// Go's time.Date is not used to find edges because it resolves such times
// inconsistently: 02:30 on a spring-forward day becomes 03:30 CEST in Warsaw
// but 01:30 EST in New York, and a repeated 02:30 becomes the second
// occurrence in Warsaw but 01:30 the first in New York. Instead the search
// walks the zone's constant-offset periods (time.Time.ZoneBounds), inside
// which wall time and real time move together.

// Clock is a wall-clock time of day in minutes since local midnight: 0..1439,
// or 1440 ("24:00") as the end of a span.
type Clock int

// String formats c as "09:00"; 1440 is "24:00".
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// Span is a weekly window: days of the week and a time range in the
// schedule's zone. Start is inclusive and End exclusive. A range whose End is
// before its Start spans midnight and belongs to the day it starts on: "Fri
// 22:00-02:00" is open from Friday 22:00 until Saturday 02:00. ParseSpan
// refuses an End equal to Start.
type Span struct {
	Days       [7]bool // indexed by time.Weekday
	Start, End Clock
}

// wraps reports whether the span runs past midnight into the next day.
func (sp Span) wraps() bool { return sp.End <= sp.Start }

// covers reports whether the span is open at minute m of a day with weekday wd.
func (sp Span) covers(wd time.Weekday, m Clock) bool {
	if !sp.wraps() {
		return sp.Days[wd] && sp.Start <= m && m < sp.End
	}
	return (sp.Days[wd] && m >= sp.Start) || (sp.Days[(wd+6)%7] && m < sp.End)
}

// String formats the span as ParseSpan accepts it: "Mon-Thu 09:00-16:00".
func (sp Span) String() string {
	return formatDays(sp.Days) + " " + sp.Start.String() + "-" + sp.End.String()
}

// Freeze closes deploys from From until To (exclusive), whatever the weekly
// windows say. Message says why, for people.
type Freeze struct {
	From, To time.Time
	Message  string
}

func (f Freeze) covers(t time.Time) bool { return !t.Before(f.From) && t.Before(f.To) }

// Schedule says when deploys to an environment are allowed. The zero value
// is always open, judged in UTC. A Schedule is a value; it is safe for
// concurrent use as long as nobody mutates its slices.
type Schedule struct {
	Loc     *time.Location // nil means UTC
	Weekly  []Span         // empty: always open, except during freezes
	Freezes []Freeze
}

// Verdict is the answer to "may we deploy at t?".
type Verdict struct {
	Open bool
	// Reason says why it is closed: "outside the deploy window (Mon-Thu
	// 09:00-16:00 Europe/Warsaw)" or "frozen: year-end freeze (until
	// 2027-01-04 00:00 CET)", followed by each freeze that starts before
	// the one named ends (", then audit (until …)"). Empty when open.
	Reason string
	// NextOpen is the earliest instant after t that is open; zero when open,
	// or when nothing opens within 366 days of t.
	NextOpen time.Time
	// ClosesAt is when the open period containing t ends; zero when closed,
	// or when no weekly window ends within 366 days of t and no freeze
	// starts after t.
	ClosesAt time.Time
}

// searchHorizon bounds the search for the next opening or closing.
const searchHorizon = 366 * 24 * time.Hour

func (s Schedule) loc() *time.Location {
	if s.Loc == nil {
		return time.UTC
	}
	return s.Loc
}

// At judges instant t. t is open when its wall clock in Loc is inside at
// least one weekly span (or there are none) and no freeze covers it.
// NextOpen and ClosesAt are in Loc.
func (s Schedule) At(t time.Time) Verdict {
	loc := s.loc()
	t = t.Round(0).In(loc) // drop any monotonic reading: freezes have none
	if f, ok := s.freezeAt(t); ok {
		const layout = "2006-01-02 15:04 MST"
		reason := "frozen"
		if f.Message != "" {
			reason += ": " + f.Message
		}
		reason += " (until " + f.To.In(loc).Format(layout) + ")"
		// A freeze that starts before this one ends (overlapping, or
		// back to back) keeps deploys closed past the end named: said
		// alone, that end was the time to come back, and it was not.
		for end := f.To; ; {
			next, ok := s.freezeAt(end)
			if !ok {
				break
			}
			msg := next.Message
			if msg == "" {
				msg = "another freeze"
			}
			reason += ", then " + msg + " (until " + next.To.In(loc).Format(layout) + ")"
			end = next.To
		}
		return Verdict{Reason: reason, NextOpen: s.nextOpen(t)}
	}
	if !s.inSpan(wallOf(t)) {
		return Verdict{
			Reason:   "outside the deploy window (" + s.spans() + " " + loc.String() + ")",
			NextOpen: s.nextOpen(t),
		}
	}
	return Verdict{Open: true, ClosesAt: s.closesAt(t)}
}

// String lists the weekly windows and the zone: "Mon-Thu 09:00-16:00, Fri
// 09:00-12:00 (Europe/Warsaw)". Freezes are not listed; At reports them.
func (s Schedule) String() string { return s.spans() + " (" + s.loc().String() + ")" }

func (s Schedule) spans() string {
	if len(s.Weekly) == 0 {
		return "always"
	}
	parts := make([]string, len(s.Weekly))
	for i, sp := range s.Weekly {
		parts[i] = sp.String()
	}
	return strings.Join(parts, ", ")
}

// freezeAt returns the freeze covering t that lasts longest, if any.
func (s Schedule) freezeAt(t time.Time) (Freeze, bool) {
	var best Freeze
	found := false
	for _, f := range s.Freezes {
		if f.covers(t) && (!found || f.To.After(best.To)) {
			best, found = f, true
		}
	}
	return best, found
}

// inSpan reports whether wall time w (a wall clock reading coded in UTC, see
// wallOf) is inside a weekly span, ignoring freezes.
func (s Schedule) inSpan(w time.Time) bool {
	if len(s.Weekly) == 0 {
		return true
	}
	wd, m := w.Weekday(), Clock(w.Hour()*60+w.Minute())
	for _, sp := range s.Weekly {
		if sp.covers(wd, m) {
			return true
		}
	}
	return false
}

// nextOpen returns the earliest open instant at or after t, which is closed;
// zero if there is none within searchHorizon.
func (s Schedule) nextOpen(t time.Time) time.Time {
	limit := t.Add(searchHorizon)
	// Invariant: nothing in [t, u) is open.
	for u := t; u.Before(limit); {
		if f, ok := s.freezeAt(u); ok {
			u = f.To
			continue
		}
		w, ok := s.seek(u, limit, true)
		if !ok {
			return time.Time{}
		}
		if f, ok := s.freezeAt(w); ok {
			u = f.To
			continue
		}
		return w.In(s.loc())
	}
	return time.Time{}
}

// closesAt returns the first instant after t, which is open, that is closed:
// the end of the weekly window or the start of the next freeze.
func (s Schedule) closesAt(t time.Time) time.Time {
	var end time.Time
	if len(s.Weekly) > 0 {
		end, _ = s.seek(t, t.Add(searchHorizon), false)
	}
	for _, f := range s.Freezes {
		if f.From.After(t) && f.To.After(f.From) && (end.IsZero() || f.From.Before(end)) {
			end = f.From
		}
	}
	if end.IsZero() {
		return end
	}
	return end.In(s.loc())
}

// seek returns the earliest instant in [t, limit) at which inSpan is want.
// It walks the zone's constant-offset periods; within one, wall time is real
// time plus a fixed offset, so the search happens in wall time. A wall time
// skipped by a transition is in no period, so the first instant after the
// gap is found as the start of the next period.
func (s Schedule) seek(t, limit time.Time, want bool) (time.Time, bool) {
	loc := s.loc()
	for u := t; u.Before(limit); {
		lu := u.In(loc)
		stop := limit
		if _, end := lu.ZoneBounds(); !end.IsZero() && end.Before(limit) {
			stop = end
		}
		w := wallOf(lu)
		if e, ok := s.seekWall(w, w.Add(stop.Sub(u)), want); ok {
			return u.Add(e.Sub(w)), true
		}
		u = stop
	}
	return time.Time{}, false
}

// seekWall returns the earliest wall time in [w, limit) at which inSpan is
// want. Past w, inSpan can only turn true at a span's start and false at a
// span's end, so only those are tried.
func (s Schedule) seekWall(w, limit time.Time, want bool) (time.Time, bool) {
	if !w.Before(limit) {
		return time.Time{}, false
	}
	if s.inSpan(w) == want {
		return w, true
	}
	var best time.Time
	// Ends of spans that started the day before can fall after w. Every edge
	// of day d is at or after d, so a day starting after the best edge so far
	// cannot improve on it.
	for d := midnight(w).AddDate(0, 0, -1); d.Before(limit); d = d.AddDate(0, 0, 1) {
		if !best.IsZero() && !d.Before(best) {
			break
		}
		for _, sp := range s.Weekly {
			if !sp.Days[d.Weekday()] {
				continue
			}
			var e time.Time
			switch {
			case want:
				e = d.Add(minutes(sp.Start))
			case sp.wraps():
				e = d.AddDate(0, 0, 1).Add(minutes(sp.End))
			default:
				e = d.Add(minutes(sp.End))
			}
			if e.After(w) && e.Before(limit) && (best.IsZero() || e.Before(best)) && s.inSpan(e) == want {
				best = e
			}
		}
	}
	return best, !best.IsZero()
}

func minutes(c Clock) time.Duration { return time.Duration(c) * time.Minute }

// wallOf returns the wall clock reading of t in its own zone, coded as a UTC
// time so that arithmetic on it ignores daylight saving.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func midnight(w time.Time) time.Time {
	return time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, time.UTC)
}

// firstAt returns the first instant whose wall clock in loc reads wall (coded
// as by wallOf) or later: the earlier of the two when a fall-back change
// repeats it, and the end of the gap when a spring-forward change skips it.
func firstAt(wall time.Time, loc *time.Location) time.Time {
	g := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
	var best time.Time
	for _, probe := range []time.Time{g.Add(-24 * time.Hour), g, g.Add(24 * time.Hour)} {
		_, off := probe.Zone()
		u := wall.Add(-time.Duration(off) * time.Second)
		if wallOf(u.In(loc)).Equal(wall) && (best.IsZero() || u.Before(best)) {
			best = u
		}
	}
	if !best.IsZero() {
		return best.In(loc)
	}
	// In a gap time.Date moves the reading by the size of the gap, backwards
	// or forwards depending on the zone; the transition is then at the end
	// or the start of the zone period it picked.
	start, end := g.ZoneBounds()
	if wallOf(g).Before(wall) {
		return end.In(loc)
	}
	return start.In(loc)
}

var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

const dayHelp = "use Mon, Tue, Wed, Thu, Fri, Sat, Sun, daily, weekdays or weekends"

// ParseSpan parses a weekly window: days, a space, and a time range.
//
//	Mon-Thu 09:00-16:00
//	Mon,Wed,Fri 10:00-12:00
//	Sat-Sun 00:00-24:00
//	Fri 22:00-02:00       (until Saturday 02:00)
//	Mon 00:00-24:00       (all Monday; "Mon 09:00-09:00" is refused)
//	Sun-Tue 09:00-17:00   (day ranges may wrap around the week)
//	daily 09:00-17:00     (also weekdays, weekends)
//
// Day names are case-insensitive, three letters or in full.
func ParseSpan(s string) (Span, error) {
	s = strings.TrimSpace(s)
	if err := asciiDashes(s); err != nil {
		return Span{}, err
	}
	i := strings.IndexAny(s, "0123456789")
	if i < 0 {
		return Span{}, fmt.Errorf("window %q has no time range; want DAYS HH:MM-HH:MM, e.g. \"Mon-Fri 09:00-17:00\"", s)
	}
	days, times := strings.TrimSpace(s[:i]), strings.ReplaceAll(s[i:], " ", "")
	if days == "" {
		return Span{}, fmt.Errorf("window %q has no days; want DAYS HH:MM-HH:MM, e.g. \"Mon-Fri 09:00-17:00\"", s)
	}
	if strings.Contains(times, ",") || strings.Count(times, "-") > 1 {
		// Two ranges, or more days and a range, written in one period:
		// told that a time was bad ("12:00,13:00-17:00", its spaces
		// gone), people looked for a typo in a time that had none.
		return Span{}, fmt.Errorf("window %q holds more than one time range; a period is days and one range: list each as its own, e.g. [\"Mon-Fri 09:00-12:00\", \"Mon-Fri 13:00-17:00\"]", s)
	}
	var sp Span
	var err error
	if sp.Days, err = parseDays(days); err != nil {
		return Span{}, err
	}
	from, to, ok := strings.Cut(times, "-")
	if !ok {
		return Span{}, fmt.Errorf("bad time range %q; want HH:MM-HH:MM, e.g. 09:00-17:00", times)
	}
	if sp.Start, err = parseClock(from, false); err != nil {
		return Span{}, err
	}
	if sp.End, err = parseClock(to, true); err != nil {
		return Span{}, err
	}
	if sp.Start == sp.End {
		// Read as spanning midnight it would be open 24 hours from its
		// start: more likely a typo for a few hours than a whole day,
		// and it would open the env at every hour without a word.
		return Span{}, fmt.Errorf("window %q starts and ends at %s, which would leave it open 24 hours; for a whole day write %s 00:00-24:00, for a span past midnight an end before its start (22:00-02:00)",
			s, sp.Start, days)
	}
	return sp, nil
}

// dashNames names the dashes that text copied from a document or a chat
// puts where a window's hyphen-minus belongs; other dashes are named by
// code point alone.
var dashNames = map[rune]string{
	'\u2010': "a hyphen",
	'\u2011': "a non-breaking hyphen",
	'\u2012': "a figure dash",
	'\u2013': "an en dash",
	'\u2014': "an em dash",
	'\u2015': "a horizontal bar",
	'\u2212': "a minus sign",
	'\ufe58': "a small em dash",
	'\ufe63': "a small hyphen-minus",
	'\uff0d': "a fullwidth hyphen-minus",
}

// asciiDashes refuses a window written with a dash other than the ASCII
// hyphen-minus, naming it and giving the window as it should be written.
// The ranges are read with "-" alone: told only that a time range was bad,
// people looked at times that were right and a dash that looks like one.
func asciiDashes(s string) error {
	for _, r := range s {
		if r == '-' || !unicode.Is(unicode.Pd, r) && r != '\u2212' {
			continue
		}
		name, ok := dashNames[r]
		if !ok {
			name = "a dash"
		}
		fixed := strings.Map(func(r rune) rune {
			if unicode.Is(unicode.Pd, r) || r == '\u2212' {
				return '-'
			}
			return r
		}, s)
		return fmt.Errorf("window %q has %s (U+%04X) where ranges take the ASCII hyphen-minus; write it %q", s, name, r, fixed)
	}
	return nil
}

func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		switch strings.ToLower(item) {
		case "daily":
			days = [7]bool{true, true, true, true, true, true, true}
			continue
		case "weekdays":
			for d := time.Monday; d <= time.Friday; d++ {
				days[d] = true
			}
			continue
		case "weekends":
			days[time.Saturday], days[time.Sunday] = true, true
			continue
		}
		a, b, isRange := strings.Cut(item, "-")
		first, err := parseDay(a)
		if err != nil {
			return days, err
		}
		if !isRange {
			days[first] = true
			continue
		}
		last, err := parseDay(b)
		if err != nil {
			return days, err
		}
		if first == last {
			return days, fmt.Errorf("day range %q starts and ends on the same day; write %s alone, or daily", item, dayNames[first])
		}
		for d := first; ; d = (d + 1) % 7 {
			days[d] = true
			if d == last {
				break
			}
		}
	}
	return days, nil
}

func parseDay(s string) (time.Weekday, error) {
	s = strings.TrimSpace(s)
	for d := time.Sunday; d <= time.Saturday; d++ {
		if strings.EqualFold(s, dayNames[d]) || strings.EqualFold(s, d.String()) {
			return d, nil
		}
	}
	if s == "" {
		return 0, fmt.Errorf("missing day; %s", dayHelp)
	}
	return 0, fmt.Errorf("unknown day %q; %s", s, dayHelp)
}

// parseClock parses "09:00" or "9:00"; "24:00" only as an end.
func parseClock(s string, end bool) (Clock, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !allDigits(h) || !allDigits(m) {
		return 0, fmt.Errorf("bad time %q; use HH:MM, e.g. 09:00", s)
	}
	hh, _ := strconv.Atoi(h) // cannot fail: checked digits
	mm, _ := strconv.Atoi(m)
	if hh > 24 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time %q; use 00:00 to 24:00", s)
	}
	if hh == 24 && !end {
		return 0, fmt.Errorf("bad time %q: a window cannot start at 24:00; use 00:00", s)
	}
	return Clock(hh*60 + mm), nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// formatDays writes days the way ParseSpan reads them, Monday first, runs of
// consecutive days as ranges: "Mon-Thu", "Mon,Wed,Fri", "Sun-Tue,Thu".
func formatDays(days [7]bool) string {
	pos := func(i int) time.Weekday { return time.Weekday((i + 1) % 7) } // 0 = Monday
	n, gap := 0, -1
	for i := range 7 {
		if days[pos(i)] {
			n++
		} else if gap < 0 {
			gap = i
		}
	}
	switch n {
	case 0:
		return "never"
	case 7:
		return "daily"
	}
	type run struct{ first, last, key int }
	var runs []run
	// Start just after a day off so that no run is cut in two; a run that
	// wraps from Sunday to Monday sorts first, as it holds Monday.
	for k := 1; k <= 7; k++ {
		i := (gap + k) % 7
		if !days[pos(i)] {
			continue
		}
		if l := len(runs); l > 0 && runs[l-1].last == (i+6)%7 {
			runs[l-1].last = i
			runs[l-1].key = min(runs[l-1].key, i)
			continue
		}
		runs = append(runs, run{first: i, last: i, key: i})
	}
	slices.SortFunc(runs, func(a, b run) int { return a.key - b.key })
	parts := make([]string, len(runs))
	for j, r := range runs {
		parts[j] = dayNames[pos(r.first)]
		if r.last != r.first {
			parts[j] += "-" + dayNames[pos(r.last)]
		}
	}
	return strings.Join(parts, ",")
}

// ParseFreeze builds a freeze from dates in loc (nil means UTC). Each date is
// "2026-12-20" or "2026-12-20 18:00". A plain From date starts at the
// beginning of that day; a plain To date includes that whole day, so to
// "2027-01-03" lasts until 2027-01-04 00:00. A wall time repeated by a
// fall-back change means its first occurrence; one skipped by a
// spring-forward change means the first instant after the gap.
func ParseFreeze(from, to, msg string, loc *time.Location) (Freeze, error) {
	if loc == nil {
		loc = time.UTC
	}
	start, _, err := parseFreezeDate(from)
	if err != nil {
		return Freeze{}, fmt.Errorf("freeze from: %w", err)
	}
	end, dateOnly, err := parseFreezeDate(to)
	if err != nil {
		return Freeze{}, fmt.Errorf("freeze to: %w", err)
	}
	if dateOnly {
		end = end.AddDate(0, 0, 1)
	}
	f := Freeze{From: firstAt(start, loc), To: firstAt(end, loc), Message: strings.TrimSpace(msg)}
	if !f.To.After(f.From) {
		const layout = "2006-01-02 15:04 MST"
		if dateOnly {
			// The end shown is the day after the one typed: say why, or
			// "to 2026-12-19" reads as refused for ending on 2026-12-20.
			return Freeze{}, fmt.Errorf("freeze to %s takes in that whole day, so it ends at %s, not after it starts at %s", strings.TrimSpace(to), f.To.Format(layout), f.From.Format(layout))
		}
		return Freeze{}, fmt.Errorf("freeze ends at %s, not after it starts at %s", f.To.Format(layout), f.From.Format(layout))
	}
	return f, nil
}

// parseFreezeDate returns the wall time coded as by wallOf, and whether s
// was a plain date.
func parseFreezeDate(s string) (time.Time, bool, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("bad date %q; use 2026-12-20 or 2026-12-20 18:00", s)
}
