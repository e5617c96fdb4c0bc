package config

import (
	"fmt"
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
