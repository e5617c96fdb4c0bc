package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Train is a deploy train: a boarding announcement, a reminder and a
// departure on cron schedules; whatever is aboard at departure ships, in
// boarding order.
type Train struct {
	Name string `yaml:"-"` // the key in Config.Trains

	// Env is the environment the train ships to (each car's app must have it).
	Env string `yaml:"env"`
	// Channels get the announcements.
	Channels []string `yaml:"channels"`
	// Timezone of the schedules: an IANA zone name or UTC, not Local (see
	// loadZone); default UTC.
	Timezone string `yaml:"timezone"`
	// Boarding, Reminder and Departure are 5-field cron schedules
	// ("0 10 * * 1-5"); Reminder is optional.
	Boarding  string `yaml:"boarding"`
	Reminder  string `yaml:"reminder"`
	Departure string `yaml:"departure"`
	// MaxCars bounds how many apps board one train; 0: no limit.
	MaxCars int `yaml:"max_cars"`
	// StopOnFailure stops the departure at the first failed car; the
	// rest move to the next train.
	StopOnFailure bool `yaml:"stop_on_failure"`
	// Empty is what an announcement says when nobody is aboard: "note"
	// (a short note) or "silent"; default note.
	Empty string `yaml:"empty"`
	// Grace is how late a missed departure (the bot was down) may still
	// run, once, with a note; older ones are announced as missed. Default 15m.
	Grace Duration `yaml:"grace"`
	// DeployTimeout bounds the departure's wait for one car's deploy: a
	// car with no outcome by then is counted as still running, and its
	// outcome is said when the deploy ends. Default 1h; more than 0s.
	DeployTimeout Duration `yaml:"deploy_timeout"`
}

// DefaultTrainDeployTimeout is a train's deploy_timeout when unset: well
// past a rolling deploy over many hosts or a migrations prompt's
// confirm_timeout, short enough that the cars after a stuck one leave
// the same day.
const DefaultTrainDeployTimeout = time.Hour

// Location returns the train's time zone (validated).
func (t *Train) Location() *time.Location {
	loc, err := loadZone(t.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Schedule parses one of the train's cron specs in its time zone. Only
// calendar specs (minute hour day month weekday) are trains' schedules:
// the zone comes from the train's timezone key, and "@every" has no wall
// clock to keep across daylight-saving changes.
func (t *Train) Schedule(spec string) (cron.Schedule, error) {
	if f := strings.Fields(spec); len(f) > 0 && (strings.HasPrefix(f[0], "CRON_TZ=") || strings.HasPrefix(f[0], "TZ=")) {
		return nil, fmt.Errorf("%q: set the time zone with the train's timezone key, not in the schedule", spec)
	}
	cs, err := cron.ParseStandard("CRON_TZ=" + t.Location().String() + " " + spec)
	if err != nil {
		if f := strings.Fields(spec); len(f) == 5 && sundaySeven.MatchString(f[4]) && strings.Contains(err.Error(), "(7) above maximum (6)") {
			// crontab(5) reads 7 as Sunday; cron's own message names
			// only the range, not the field nor which day is Sunday.
			return nil, fmt.Errorf("%q: the day of the week runs from 0 (Sunday) to 6 (Saturday), or SUN to SAT; write Sunday as 0 or SUN, not 7", spec)
		}
		return nil, err
	}
	if _, ok := cs.(*cron.SpecSchedule); !ok {
		return nil, fmt.Errorf("%q is not a calendar schedule (use minute hour day month weekday)", spec)
	}
	return cs, nil
}

// sundaySeven matches a day-of-week field that names day 7 (alone, or as
// the end or start of a range), which crontab(5) takes for Sunday.
var sundaySeven = regexp.MustCompile(`(^|[,-])7([,-]|$)`)

// leapYear starts the search for a schedule's first time: cron looks five
// years ahead, so a 29 February is found, and whether a day of a month
// ever comes does not depend on the year otherwise.
var leapYear = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *Config) validateTrains(loc locator, ps *problems) {
	for _, name := range sortedKeys(c.Trains) {
		t := c.Trains[name]
		p := "trains." + name
		at := func(path ...any) int { return loc.line(append([]any{"trains", name}, path...)...) }
		if !namePattern.MatchString(name) {
			ps.add(at(), "train name %q %s", name, nameRule)
		}
		if t.Env == "" {
			ps.add(at(), "%s.env: required: the environment the train ships to", p)
		} else {
			found := false
			for _, a := range c.Apps {
				if _, ok := a.Envs[t.Env]; ok {
					found = true
				}
			}
			if !found {
				ps.add(at("env"), "%s.env: no app has an environment %q", p, t.Env)
			}
		}
		if len(t.Channels) == 0 {
			ps.add(at(), "%s.channels: at least one channel is required for the announcements", p)
		}
		// Posts to a channel no platform has fail at every announcement,
		// and the first one carries each car's deploy and its migrations
		// prompt, which the departure would wait for unseen.
		for i, ch := range t.Channels {
			switch {
			case ch == "":
				ps.add(at("channels", i), "%s.channels[%d]: want a channel id or name, like C0123456789 or #deploys, got an empty one", p, i)
			case blankInChannel(ch):
				ps.add(at("channels", i), "%s.channels[%d]: want a channel id or name without spaces, like C0123456789 or #deploys, got %q", p, i, ch)
			}
		}
		if _, err := loadZone(t.Timezone); err != nil {
			ps.add(at("timezone"), "%s.timezone: %v", p, err)
		}
		for _, k := range []struct {
			key, spec string
			required  bool
		}{{"boarding", t.Boarding, true}, {"reminder", t.Reminder, false}, {"departure", t.Departure, true}} {
			if k.spec == "" {
				if k.required {
					ps.add(at(), "%s.%s: required (a cron schedule such as \"0 14 * * 1-5\")", p, k.key)
				}
				continue
			}
			cs, err := t.Schedule(k.spec)
			if err != nil {
				ps.add(at(k.key), "%s.%s: %v", p, k.key, err)
			} else if cs.Next(leapYear).IsZero() {
				ps.add(at(k.key), "%s.%s: %q never comes: no month in it has that day", p, k.key, k.spec)
			}
		}
		if t.Grace < 0 {
			// It would act as 0s, no late departure at all, and say
			// "-15m0s" where a departure waits out its grace.
			ps.add(at("grace"), "%s.grace: must be 0s or more, got %s", p, t.Grace)
		}
		if t.DeployTimeout <= 0 {
			// 0s would count every car as still running before its
			// deploy could end.
			ps.add(at("deploy_timeout"), "%s.deploy_timeout: must be more than 0s, got %s", p, t.DeployTimeout)
		}
		if t.MaxCars < 0 {
			ps.add(at("max_cars"), "%s.max_cars: must not be negative", p)
		}
		switch t.Empty {
		case "note", "silent":
		default:
			ps.add(at("empty"), "%s.empty: want note or silent, got %q", p, t.Empty)
		}
	}
}

// cronStar is the bit robfig/cron sets in a day field written * or ? (or
// */1): with it in either day field, a day must match both; without it in
// both, "*/2" among them, cron runs on a day that matches either.
const cronStar = 1 << 63

// EitherDays lists the train schedules that name days of the month and
// days of the week, each with its key: cron runs such a schedule on every
// day that matches either field, as crontab(5) says, not only on those
// that match both, so "0 14 1-7 * 1", written for the first Monday of a
// month, leaves on the first seven days and on every Monday. Such a
// schedule is valid, and may be meant: `bot check-config` and the
// start-up log warn of each rather than refuse it.
func (c *Config) EitherDays() []string {
	var out []string
	for _, name := range sortedKeys(c.Trains) {
		t := c.Trains[name]
		for _, k := range []struct{ key, spec string }{{"boarding", t.Boarding}, {"reminder", t.Reminder}, {"departure", t.Departure}} {
			cs, err := t.Schedule(k.spec)
			if err != nil {
				continue // refused by validateTrains, or not set
			}
			ss, ok := cs.(*cron.SpecSchedule)
			f := strings.Fields(k.spec)
			if !ok || ss.Dom&cronStar != 0 || ss.Dow&cronStar != 0 || len(f) != 5 {
				continue
			}
			out = append(out, fmt.Sprintf("trains.%s.%s: %q names days of the month (%s) and of the week (%s), so it comes on every day that is either, as cron reads it, not only on those that are both: for one of them alone, write * in the other",
				name, k.key, k.spec, f[2], f[4]))
		}
	}
	return out
}
