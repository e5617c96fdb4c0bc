package acl

import (
	"testing"
	"time"
)

// TestCheckInCountsUnderItsOwnGrant: a check-in made as an admin by a
// runtime grant counts under that grant, and under one that replaced it
// while in force (Since), not under a grant of the same admin made once
// the first was revoked: the check-in kept only that a grant made its
// user an admin, so it counted under any later one.
func TestCheckInCountsUnderItsOwnGrant(t *testing.T) {
	p := testPolicy(t)
	t0 := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	first := Grant{User: "dee", Role: "admin", GrantedBy: "ana", Created: t0}
	replaced := Grant{User: "dee", Role: "admin", GrantedBy: "ana", Created: t0.Add(time.Hour), Expires: t0.Add(5 * time.Hour), Since: first.Held()}
	again := Grant{User: "dee", Role: "admin", GrantedBy: "ana", Created: t0.Add(2 * time.Hour)}
	other := Grant{User: "dee", Role: "deployer", GrantedBy: "ana", Created: t0}
	now := t0.Add(3 * time.Hour)
	made := p.AdminUnder("dee", []Grant{first, other}, t0)
	if want := "grant:admin@2026-06-02T09:00:00Z"; made != want {
		t.Fatalf("AdminUnder at the check-in: got %q, want %q", made, want)
	}
	tests := []struct {
		name   string
		under  string // what made the check-in
		grants []Grant
		want   bool
	}{
		{"the same grant", made, []Grant{first}, true},
		{"the grant replaced while in force", made, []Grant{replaced}, true},
		{"a grant made again once it was revoked", made, []Grant{again}, false},
		{"no grant", made, nil, false},
		{"a grant named by a version that kept no name", UnderGrant, []Grant{again}, true},
		{"made under nothing kept", "", []Grant{again}, true},
		{"the config, admin now by a grant", UnderConfig, []Grant{again}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CheckIn{Until: now.Add(time.Hour), Under: tt.under}
			if got := c.Counts(p.AdminUnder("dee", tt.grants, now)); got != tt.want {
				t.Errorf("Counts: got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCheckInUnderUnknownTerms: a term this version does not know (a
// newer one wrote it) is told apart from a grant, and never counts.
func TestCheckInUnderUnknownTerms(t *testing.T) {
	for _, tt := range []struct {
		made, under            string
		config, grant, unknown bool
		counts                 bool
	}{
		{made: "sso:admins", under: "config", unknown: true},
		{made: "sso:admins", under: "sso:admins", unknown: true},
		{made: "config,sso:admins", under: "config", config: true, unknown: true, counts: true},
		{made: "config,sso:admins", under: "grant:admin@2026-06-02T09:00:00Z", config: true, unknown: true},
		{made: "grant:admin@2026-06-02T09:00:00Z", under: "grant:admin@2026-06-02T09:00:00Z", grant: true, counts: true},
	} {
		t.Run(tt.made+" under "+tt.under, func(t *testing.T) {
			config, grant, unknown := Kinds(tt.made)
			if config != tt.config || grant != tt.grant || unknown != tt.unknown {
				t.Errorf("Kinds: got %v, %v, %v, want %v, %v, %v", config, grant, unknown, tt.config, tt.grant, tt.unknown)
			}
			if got := (CheckIn{Under: tt.made}).Counts(tt.under); got != tt.counts {
				t.Errorf("Counts: got %v, want %v", got, tt.counts)
			}
		})
	}
}

// TestUntils: the end of each check-in, by user, and nothing for none:
// every store answers Present with it.
func TestUntils(t *testing.T) {
	t0 := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	got := Untils(map[string]CheckIn{
		"ana": {Until: t0, Under: UnderConfig},
		"bob": {Until: t0.Add(time.Hour)},
	})
	want := map[string]time.Time{"ana": t0, "bob": t0.Add(time.Hour)}
	if len(got) != len(want) {
		t.Fatalf("Untils: got %v, want %v", got, want)
	}
	for u, w := range want {
		if !got[u].Equal(w) {
			t.Errorf("Untils: got %v for %s, want %v", got[u], u, w)
		}
	}
	if got := Untils(nil); len(got) != 0 {
		t.Errorf("Untils(nil): got %v, want none", got)
	}
}
