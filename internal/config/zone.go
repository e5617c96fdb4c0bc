package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	// Zone data built in: a machine or image without tzdata would
	// otherwise call every zone but UTC unknown and refuse the config.
	// The machine's own zone data, when present, is still read first.
	_ "time/tzdata"
)

// loadZone reads a timezone key: an IANA zone name or UTC; empty is UTC.
// Local (and localtime, a zone file many systems link to the machine's
// own zone) is refused: it is the zone of the machine the bot runs on, so
// a container on UTC, or replicas set differently, would each open and
// close the same schedule at other hours.
func loadZone(name string) (*time.Location, error) {
	switch {
	case name == "":
		return time.UTC, nil
	case strings.EqualFold(name, "Local"), strings.EqualFold(name, "localtime"):
		return nil, fmt.Errorf("%q is the zone of whatever machine the bot runs on, which may differ between replicas; use an IANA name such as Europe/Berlin, or UTC", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (use an IANA name such as Europe/Berlin, or UTC)", name)
	}
	return loc, nil
}

// etcGMT matches the zones named for a whole-hour offset from UTC,
// Etc/GMT-14 to Etc/GMT+12, with the prefix or without.
var etcGMT = regexp.MustCompile(`^((?:Etc/)?GMT)([+-])([0-9]{1,2})$`)

// ZoneNote says how a zone may not keep the hours its name suggests, for
// a zone named Etc/GMT-N or Etc/GMT+N (see InvertedZone) and for EST and
// MST (see fixedZone); "" for any other zone, and for a name that is no
// zone.
func ZoneNote(name string) string {
	if note := InvertedZone(name); note != "" {
		return note
	}
	return fixedZone(name)
}

// InvertedZone says, for a zone named Etc/GMT-N or Etc/GMT+N, the offset
// from UTC it names and how to write the other: POSIX signs such names
// the other way round (Etc/GMT-1 is UTC+01:00), so a window written to be
// UTC-1 with it opens and closes two hours off. "" for any other zone,
// Etc/GMT+0 among them, and for a name that is no zone.
func InvertedZone(name string) string {
	m := etcGMT.FindStringSubmatch(name)
	if m == nil || strings.Trim(m[3], "0") == "" {
		return ""
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return ""
	}
	_, offset := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Zone()
	prefix, sign, hours := m[1], m[2], strings.TrimLeft(m[3], "0")
	flipped := map[string]string{"+": "-", "-": "+"}[sign]
	return fmt.Sprintf("%s is UTC%s (POSIX signs are inverted): write it %s only if you mean UTC%s%s; for UTC%s%s write %s%s%s",
		name, time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", offset)).Format("-07:00"), name, flipped, hours, sign, hours, prefix, flipped, hours)
}

// regionTime names, for the zones tzdata keeps at one offset all year
// under a name people read as a region's time, that region's time and the
// zone that keeps it, daylight saving included. EST and MST are read as US
// Eastern and Mountain time, which change clocks in March and November:
// written for those, windows and trains in them open, close and leave an
// hour off for eight months of the year. HST is not listed: Hawaii keeps
// no daylight saving either.
var regionTime = map[string]string{
	"EST": "US Eastern time, which has it, write America/New_York",
	"MST": "US Mountain time, which has it, write America/Denver (America/Phoenix has none)",
}

// fixedZone says, for EST and MST, that they keep one offset all year and
// which zone keeps the region's time; "" for any other name.
func fixedZone(name string) string {
	region, ok := regionTime[name]
	if !ok {
		return ""
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return ""
	}
	_, winter := time.Date(2026, 1, 15, 12, 0, 0, 0, loc).Zone()
	_, summer := time.Date(2026, 7, 15, 12, 0, 0, 0, loc).Zone()
	if winter != summer {
		return "" // zone data that gives it daylight saving keeps the region's time
	}
	return fmt.Sprintf("%s is UTC%s all year, without daylight saving: for %s; keep %s only if you mean UTC%d all year",
		name, time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", winter)).Format("-07:00"), region, name, winter/3600)
}

// MisleadingZones lists the timezone keys naming a zone that may not keep
// the hours its name suggests (see ZoneNote), each with its key path and
// what ZoneNote says of it. Such a zone is valid, and may be meant: `bot
// check-config` and the start-up log warn of each rather than refuse it.
func (c *Config) MisleadingZones() []string {
	var out []string
	for _, app := range c.AppNames() {
		a := c.Apps[app]
		for _, env := range a.EnvNames() {
			if w := a.Envs[env].Window; w != nil {
				if note := ZoneNote(w.Timezone); note != "" {
					out = append(out, fmt.Sprintf("apps.%s.environments.%s.window.timezone: %s", app, env, note))
				}
			}
		}
	}
	for _, name := range sortedKeys(c.Trains) {
		if note := ZoneNote(c.Trains[name].Timezone); note != "" {
			out = append(out, fmt.Sprintf("trains.%s.timezone: %s", name, note))
		}
	}
	return out
}
