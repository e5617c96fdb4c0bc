package acl

import (
	"fmt"
	"strings"
	"time"
)

// CheckIn is an admin's word that they are around until Until.
type CheckIn struct {
	Until time.Time
	// Under is what made its user an admin when they checked in: terms
	// joined by commas, UnderConfig and one for each runtime grant that
	// did (GrantTerms). Empty for a check-in recorded before it was
	// kept, and for none known; UnderGrant alone, for any grant, for one
	// recorded before the grant was named.
	Under string
}

// What may make a user an admin, as CheckIn.Under names it.
const (
	UnderConfig = "config"
	UnderGrant  = "grant"
)

// GrantTerms names grant g in CheckIn.Under: UnderGrant, its role and
// when its user began to hold it (Held), as "grant:admin@2026-06-02T09:00:00Z".
// A grant revoked and made again is named anew, so that a check-in made
// under the first does not count under the second; one that replaced
// the grant in force keeps the name.
func GrantTerms(g Grant) string {
	return UnderGrant + ":" + g.Role + "@" + g.Held().UTC().Format(time.RFC3339Nano)
}

// AdminUnder says what makes user an admin at now, as CheckIn.Under
// does: "" when nothing does.
func (p *Policy) AdminUnder(user string, grants []Grant, now time.Time) string {
	var under []string
	if p.IsAdmin(user, nil, now) {
		under = append(under, UnderConfig)
	}
	for _, g := range grants {
		if g.User == user && p.grantAdmins(g, now) {
			under = append(under, GrantTerms(g))
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
// it was made under still does, the config or the very grant it was made
// under. A check-in that names nothing (recorded before Under was kept)
// counts while its user is an admin, as it always did; one that names a
// grant but not which (UnderGrant alone) counts under any grant. A term
// this version does not know (Kinds) never holds: a check-in made only
// under such terms does not count.
func (c CheckIn) Counts(under string) bool {
	if under == "" {
		return false
	}
	if c.Under == "" {
		return true
	}
	for made := range strings.SplitSeq(c.Under, ",") {
		if made != UnderConfig && !isGrant(made) {
			continue
		}
		for is := range strings.SplitSeq(under, ",") {
			if made == is || made == UnderGrant && isGrant(is) {
				return true
			}
		}
	}
	return false
}

// Kinds reports what kinds of terms under names: the config, a runtime
// grant, and terms this version does not know (written by a newer one),
// which no check-in counts under (Counts): what they stand for, and
// whether it still holds, is not known here.
func Kinds(under string) (config, grant, unknown bool) {
	if under == "" {
		return false, false, false
	}
	for t := range strings.SplitSeq(under, ",") {
		switch {
		case t == UnderConfig:
			config = true
		case isGrant(t):
			grant = true
		default:
			unknown = true
		}
	}
	return config, grant, unknown
}

// isGrant reports whether term t of CheckIn.Under names a runtime grant.
func isGrant(t string) bool { return t == UnderGrant || strings.HasPrefix(t, UnderGrant+":") }

// Untils returns the end of each of checkIns, by user: who is checked
// in and until when, as a store's Present answers from its check-ins.
func Untils(checkIns map[string]CheckIn) map[string]time.Time {
	out := make(map[string]time.Time, len(checkIns))
	for user, c := range checkIns {
		out[user] = c.Until
	}
	return out
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
