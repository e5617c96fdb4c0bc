package acl

import (
	"fmt"
	"strings"
	"time"
)

// CheckIn is an admin's word that they are around until Until.
type CheckIn struct {
	Until time.Time
	// Under is what made its user an admin when they checked in:
	// UnderConfig, UnderGrant, or both joined by a comma. Empty for a
	// check-in recorded before it was kept, and for none known.
	Under string
}

// What may make a user an admin, as CheckIn.Under names it.
const (
	UnderConfig = "config"
	UnderGrant  = "grant"
)

// AdminUnder says what makes user an admin at now, as CheckIn.Under
// does: "" when nothing does.
func (p *Policy) AdminUnder(user string, grants []Grant, now time.Time) string {
	var under []string
	if p.IsAdmin(user, nil, now) {
		under = append(under, UnderConfig)
	}
	for _, g := range grants {
		if g.User == user && p.grantAdmins(g, now) {
			under = append(under, UnderGrant)
			break
		}
	}
	return strings.Join(under, ",")
}

// grantAdmins reports whether grant g alone, the config's bindings aside,
// makes its user an admin of everything at now.
func (p *Policy) grantAdmins(g Grant, now time.Time) bool {
	bare := &Policy{rules: Rules{Roles: p.rules.Roles, Users: p.rules.Users}}
	return bare.IsAdmin(g.User, []Grant{g}, now)
}

// Counts reports whether c still counts its user around while what makes
// them an admin now is under (AdminUnder; "": nothing): only if something
// it was made under still does. A check-in that names nothing (recorded
// before Under was kept) counts while its user is an admin, as it always
// did.
func (c CheckIn) Counts(under string) bool {
	if under == "" {
		return false
	}
	if c.Under == "" {
		return true
	}
	for made := range strings.SplitSeq(c.Under, ",") {
		for is := range strings.SplitSeq(under, ",") {
			if made == is {
				return true
			}
		}
	}
	return false
}

// EncodeCheckIn is how a store keeps a check-in: its end, in RFC 3339
// with nanoseconds, and then, if any, a space and Under. A check-in
// written before Under was kept is its end alone, and reads as it did.
func EncodeCheckIn(c CheckIn) string {
	v := c.Until.UTC().Format(time.RFC3339Nano)
	if c.Under != "" {
		v += " " + c.Under
	}
	return v
}

// DecodeCheckIn reads a check-in EncodeCheckIn wrote.
func DecodeCheckIn(v string) (CheckIn, error) {
	until, under, _ := strings.Cut(v, " ")
	t, err := time.Parse(time.RFC3339Nano, until)
	if err != nil {
		return CheckIn{}, fmt.Errorf("decode check-in: %w", err)
	}
	return CheckIn{Until: t, Under: under}, nil
}
