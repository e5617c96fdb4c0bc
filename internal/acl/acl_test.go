package acl

import (
	"strings"
	"testing"
	"time"
)

func testPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := New(Rules{
		Users:  []string{"ana", "bob", "cy", "dee"},
		Groups: map[string][]string{"backend": {"bob", "cy"}},
		Roles: map[string][]Action{
			"admin":    {Admin},
			"deployer": {Deploy, Rollback},
			"tester":   {Deploy},
			"locker":   {Lock, Unlock},
		},
		Bindings: []Binding{
			{Role: "admin", Users: []string{"ana"}},
			{Role: "deployer", Groups: []string{"backend"}, On: []string{"accounting/{staging,production}"}},
			{Role: "tester", Users: []string{"*"}, On: []string{"*/testing"}},
			{Role: "locker", Users: []string{"cy"}, On: []string{"billing"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPermissionMatrix(t *testing.T) {
	p := testPolicy(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	grants := []Grant{
		{User: "dee", Role: "deployer", App: "billing", Env: "production", GrantedBy: "ana", Expires: now.Add(time.Hour)},
		{User: "dee", Role: "admin", GrantedBy: "ana", Expires: now.Add(-time.Minute)}, // expired
	}
	tests := []struct {
		user     string
		action   Action
		app, env string
		want     bool
	}{
		{"ana", Deploy, "accounting", "production", true},
		{"ana", Lock, "", "", true},
		{"ana", Override, "billing", "production", true},
		{"bob", Deploy, "accounting", "production", true},
		{"bob", Rollback, "accounting", "staging", true},
		{"bob", Deploy, "accounting", "qa", false},
		{"bob", Deploy, "billing", "production", false},
		{"bob", Cancel, "accounting", "production", false},
		{"bob", Deploy, "billing", "testing", true},
		{"cy", Lock, "billing", "production", true},
		{"cy", Lock, "", "", false},
		{"cy", Unlock, "accounting", "production", false},
		{"dee", Deploy, "billing", "production", true},
		{"dee", Deploy, "billing", "staging", false},
		{"dee", Lock, "", "", false}, // the admin grant expired
		{"dee", Deploy, "web", "testing", true},
		{"mallory", Deploy, "web", "testing", false}, // unknown users get nothing, not even "*"
		{"bob", Admin, "", "", false},
	}
	for _, tt := range tests {
		name := string(tt.action) + " " + tt.user + " " + tt.app + "/" + tt.env
		t.Run(name, func(t *testing.T) {
			d := p.Check(tt.user, tt.action, tt.app, tt.env, grants, now)
			if d.Allowed != tt.want {
				t.Errorf("got allowed=%v (via %q, reason %q), want %v", d.Allowed, d.Via, d.Reason, tt.want)
			}
			if !d.Allowed && (!strings.Contains(d.Reason, string(tt.action)) || !strings.Contains(d.Reason, "ana")) {
				t.Errorf("refusal %q should name the action and an admin who can grant it", d.Reason)
			}
		})
	}
	// A user the config does not name is told so, not to ask for a grant
	// (which only configured users can hold), and what anyone may run.
	if d := p.Check("mallory", Deploy, "web", "testing", grants, now); !strings.Contains(d.Reason, "mallory is not a user in the config") || !strings.Contains(d.Reason, ReadCommands) {
		t.Errorf("refusal of an unknown user: %q", d.Reason)
	}
	if got := p.Check("dee", Deploy, "billing", "production", grants, now.Add(2*time.Hour)); got.Allowed {
		t.Error("a runtime grant still works after it expired")
	}
}

func TestEffectiveNamesSources(t *testing.T) {
	p := testPolicy(t)
	src := p.Effective("bob", nil, time.Now())
	var got []string
	for _, s := range src {
		got = append(got, s.Role+" "+s.Via+" "+strings.Join(s.On, ","))
	}
	want := "deployer config, group backend accounting/{staging,production}|tester config (every user) */testing"
	if strings.Join(got, "|") != want {
		t.Errorf("got %q, want %q", strings.Join(got, "|"), want)
	}
	if admins := p.Admins(); strings.Join(admins, ",") != "ana" {
		t.Errorf("admins: got %v", admins)
	}
}

func TestNewRejectsBadRules(t *testing.T) {
	tests := []struct {
		name  string
		rules Rules
		want  string
	}{
		{"unknown action", Rules{Roles: map[string][]Action{"r": {"deploi"}}}, `unknown action "deploi"`},
		{"unknown role", Rules{Users: []string{"a"}, Bindings: []Binding{{Role: "nope", Users: []string{"a"}}}}, `unknown role "nope"`},
		{"unknown user", Rules{Roles: map[string][]Action{"r": {Deploy}}, Bindings: []Binding{{Role: "r", Users: []string{"zed"}}}}, `unknown user "zed"`},
		{"unknown group", Rules{Roles: map[string][]Action{"r": {Deploy}}, Bindings: []Binding{{Role: "r", Groups: []string{"g"}}}}, `unknown group "g"`},
		{"bad pattern", Rules{Roles: map[string][]Action{"r": {Deploy}}, Bindings: []Binding{{Role: "r", On: []string{"a/b/c"}}}}, "want APP or APP/ENV"},
		{"unbalanced", Rules{Roles: map[string][]Action{"r": {Deploy}}, Bindings: []Binding{{Role: "r", On: []string{"a/{b,c"}}}}, "unbalanced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.rules)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestMatchScope(t *testing.T) {
	tests := []struct {
		pattern, app, env string
		want              bool
	}{
		{"*/*", "a", "b", true},
		{"*", "a", "b", true},
		{"a", "a", "prod", true},
		{"a", "b", "prod", false},
		{"a/{x,y}", "a", "y", true},
		{"a/{x,y}", "a", "z", false},
		{"*/testing", "a", "testing", true},
		{"a/*", "", "", false},
		{"*/*", "", "", true},
		{"web-*/prod", "web-eu", "prod", true},
	}
	for _, tt := range tests {
		if got := matchScope(tt.pattern, tt.app, tt.env); got != tt.want {
			t.Errorf("matchScope(%q, %q, %q) = %v, want %v", tt.pattern, tt.app, tt.env, got, tt.want)
		}
	}
}

// TestCheckPattern: a pattern that can never match is refused, not read
// as granting nothing. expandBraces reads one level of braces only.
func TestCheckPattern(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // a part of the error; "" for a valid pattern
	}{
		{"*", ""},
		{"web", ""},
		{"web/prod", ""},
		{"*/testing", ""},
		{"accounting/{staging,production}", ""},
		{"{web,api}/prod", ""},
		{"web{,-eu}/prod", ""},
		{"web-[a-c]?/*", ""},
		{"", "want APP or APP/ENV"},
		{"a/b/c", "want APP or APP/ENV"},
		{"web/", `pattern "web/": the env side is empty; want APP/ENV, or APP alone (web) for every env of it`},
		{"/prod", `pattern "/prod": the app side is empty; want APP/ENV, like */prod for prod of every app`},
		{"/qa", "like */qa for qa of every app"},
		{"/", `pattern "/": the app side is empty; want APP or APP/ENV`},
		{"web/{,}", `pattern "web/{,}": an alternative leaves the env side empty`},
		{"{,api}/prod", "an alternative leaves the app side empty"},
		{"web/{prod,{staging,qa}}", `pattern "web/{prod,{staging,qa}}": nested braces; braces hold plain alternatives, one level deep, like {staging,production}`},
		{"{{web}}", "nested braces"},
		{"a/{b,c", "unbalanced braces: a { without its }"},
		{"a/b}", "unbalanced braces: a } without its {"},
		{"a/}b{", "unbalanced braces: a } without its {"},
		{"web/{}", "empty braces {}"},
		{"web/prod,staging", `pattern "web/prod,staging": a comma outside braces; alternatives go in braces, like {staging,production}`},
		{"web/[a-", "syntax error in pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			err := CheckPattern(tt.pattern)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestGrantNeedsAConfiguredUser: a grant stored for a name that is no
// longer a configured user grants nothing; users not in the config may
// only read, whatever the name held before.
func TestGrantNeedsAConfiguredUser(t *testing.T) {
	p, err := New(Rules{Users: []string{"ana", "dave"}, Roles: map[string][]Action{"admin": {Admin}},
		Bindings: []Binding{{Role: "admin", Users: []string{"ana"}}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	grants := []Grant{{User: "dave", Role: "admin", GrantedBy: "ana", Created: now.Add(-time.Hour)}}
	if d := p.Check("dave", Deploy, "web", "prod", grants, now); !d.Allowed {
		t.Fatalf("dave, configured, with an admin grant: refused (%s)", d.Reason)
	}
	removed, err := New(Rules{Users: []string{"ana"}, Roles: map[string][]Action{"admin": {Admin}},
		Bindings: []Binding{{Role: "admin", Users: []string{"ana"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := removed.Check("dave", Deploy, "web", "prod", grants, now); d.Allowed {
		t.Errorf("dave, removed from the config, may still deploy via %s", d.Via)
	}
	if removed.IsAdmin("dave", grants, now) {
		t.Error("dave, removed from the config, is still an admin")
	}
}

// TestEffectiveGrantExpiryInTheBotsZone: whoami says until when a runtime
// grant holds in the zone of the bot's clock, as the grant's reply did.
func TestEffectiveGrantExpiryInTheBotsZone(t *testing.T) {
	p := testPolicy(t)
	cet := time.FixedZone("CET", 3600)
	now := time.Date(2026, 11, 23, 16, 2, 0, 0, cet)
	grants := []Grant{{User: "bob", Role: "admin", App: "api", GrantedBy: "ana", Created: now, Expires: now.Add(2 * time.Hour).UTC()}}
	var via []string
	for _, s := range p.Effective("bob", grants, now) {
		if s.Role == "admin" {
			via = append(via, s.Via)
		}
	}
	if want := "granted by ana until 2026-11-23 18:02:00 CET"; len(via) != 1 || via[0] != want {
		t.Errorf("the grant's source: got %q, want %q", via, want)
	}
}
