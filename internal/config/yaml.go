package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// String formats the duration as time.Duration does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a duration written as "30s", "5m", "1h30m" or "7d".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "want a duration like 30s, 5m or 1h30m")
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return lineError(n, "%v", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in the form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ParseDuration reads a duration as the config writes them: Go's
// durations (30s, 1h30m), or whole days or weeks (7d, 2w).
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }

// parseDuration reads Go's durations, and whole days or weeks ("400d",
// "2w") for what is kept that long.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if m := daysRE.FindStringSubmatch(t); m != nil {
		n, _ := strconv.Atoi(m[1]) // at most five digits
		unit := 24 * time.Hour
		if m[2] == "w" {
			unit *= 7
		}
		if time.Duration(n) > maxDays*24*time.Hour/unit {
			return 0, fmt.Errorf("invalid duration %q: at most %dd", s, maxDays)
		}
		return time.Duration(n) * unit, nil
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit, like 30s, 5m, 1h30m or 7d", s)
	}
	return v, nil
}

var daysRE = regexp.MustCompile(`^([0-9]{1,5})([dw])$`)

// maxDays bounds durations in days or weeks well below where a
// time.Duration overflows (about 106,000 days): a century.
const maxDays = 36500

// UnmarshalYAML reads a host written as a mapping (name, address, vars) or
// as a string: "name", whose address is the name, or "name=address".
func (h *Host) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := parseHost(n.Value)
		if err != nil {
			return lineError(n, "%v", err)
		}
		*h = v
		return nil
	case yaml.MappingNode:
		type plain Host // without this method, so Decode does not recurse
		return n.Decode((*plain)(h))
	default:
		return lineError(n, "a host is a name, name=address or a mapping")
	}
}

func parseHost(s string) (Host, error) {
	name, addr, hasAddr := strings.Cut(s, "=")
	name, addr = strings.TrimSpace(name), strings.TrimSpace(addr)
	switch {
	case name == "":
		return Host{}, errors.New("host has no name: write name or name=address")
	case hasAddr && addr == "":
		return Host{}, fmt.Errorf("host %q has an empty address after =", name)
	}
	return Host{Name: name, Address: addr}, nil
}

// lineError is the error yaml.v3 collects, rather than aborting on, when a
// value's UnmarshalYAML fails: the rest of the file is still decoded.
func lineError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}
