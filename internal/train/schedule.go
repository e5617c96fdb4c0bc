package train

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/switchman-bot/switchman/internal/config"
)

// schedule is a cron schedule read on the wall clock of a time zone, so
// that a daily event happens once every day across DST changes:
//
//   - a time the clock skips (02:30 when it jumps from 02:00 to 03:00) runs
//     when the clock jumps, at 03:00; cron alone would skip that day;
//   - a time the clock shows twice (02:30 when it goes back from 03:00 to
//     02:00) runs the first time only; cron alone would run twice.
//
// Times the clock shows once are exactly cron's.
type schedule struct {
	// spec is evaluated on wall-clock readings expressed in UTC, which
	// has no DST.
	spec *cron.SpecSchedule
	loc  *time.Location
}

// newSchedule parses spec with the train's parser (config.Train.Schedule:
// the real cron parser, in the train's zone).
func newSchedule(t *config.Train, spec string) (schedule, error) {
	cs, err := t.Schedule(spec)
	if err != nil {
		return schedule{}, err
	}
	ss, ok := cs.(*cron.SpecSchedule)
	if !ok {
		return schedule{}, fmt.Errorf("%q is not a calendar schedule (use minute hour day month weekday)", spec)
	}
	wall := *ss
	wall.Location = time.UTC
	return schedule{spec: &wall, loc: t.Location()}, nil
}

// maxSkips bounds how many wall-clock readings Next passes over because
// they happened already in the hour a clock set back shows twice: a
// schedule every minute skips 60 of them.
const maxSkips = 24 * 60

// Next returns the first scheduled instant after t, or the zero time if
// there is none within cron's search horizon.
func (s schedule) Next(t time.Time) time.Time {
	w := wall(t.In(s.loc))
	for range maxSkips {
		w = s.spec.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := s.at(w); at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// at returns the first instant at which the zone's clock reads w (a wall
// reading expressed in UTC); a reading the clock skips maps to the instant
// it jumps.
func (s schedule) at(w time.Time) time.Time {
	r := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), s.loc)
	if rw := wall(r); !rw.Equal(w) {
		// The clock skips w; time.Date normalised it to one side of the gap.
		start, end := r.ZoneBounds()
		if rw.Before(w) {
			return end
		}
		return start
	}
	start, _ := r.ZoneBounds()
	if start.IsZero() {
		return r
	}
	_, off := r.Zone()
	_, prev := start.Add(-time.Second).Zone()
	if back := time.Duration(prev-off) * time.Second; back > 0 {
		// The clock was set back at start; r may be the second time it
		// reads w.
		if e := r.Add(-back); e.Before(start) {
			return e
		}
	}
	return r
}

// nominal returns the wall reading (expressed in UTC) that s scheduled
// for t, an instant Next returned: t's own reading, or, when t is the
// instant the clock jumped over readings s scheduled, the last of those.
func (s schedule) nominal(t time.Time) time.Time {
	lt := t.In(s.loc)
	w := wall(lt)
	_, off := lt.Zone()
	_, prev := lt.Add(-time.Nanosecond).Zone()
	gap := time.Duration(off-prev) * time.Second
	if gap <= 0 || s.spec.Next(w.Add(-time.Second)).Equal(w) {
		return w
	}
	n := w
	for e := s.spec.Next(w.Add(-gap - time.Second)); !e.IsZero() && e.Before(w); e = s.spec.Next(e) {
		n = e
	}
	return n
}

// wall returns t's clock reading in its zone, expressed in UTC.
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// latest returns the last scheduled instant in (after, upTo], looking back
// at most grace plus lookback from upTo: every departure still within
// grace is found, however long the grace, and one missed beyond it is
// still found for lookback, to be announced as missed.
func latest(s schedule, after, upTo time.Time, grace time.Duration) (time.Time, bool) {
	if floor := upTo.Add(-lookback - max(grace, 0)); after.Before(floor) {
		after = floor
	}
	var found time.Time
	for t := s.Next(after); !t.IsZero() && !t.After(upTo); t = s.Next(t) {
		found = t
	}
	return found, !found.IsZero()
}

// lookback bounds how far back, beyond a train's grace, a catch-up looks
// for missed events; older ones are forgotten.
const lookback = 32 * 24 * time.Hour
