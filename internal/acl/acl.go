// Package acl decides who may do what where: roles grant actions on
// app/env patterns, bindings give roles to users and groups, and admins grant
// roles at run time. Everything is denied unless a grant allows it.
package acl

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// Action is something a user may be allowed to do.
type Action string

const (
	Deploy   Action = "deploy"
	Rollback Action = "rollback"
	Cancel   Action = "cancel"
	Lock     Action = "lock"
	Unlock   Action = "unlock"
	Train    Action = "train"
	Confirm  Action = "confirm"
	Override Action = "override"
	// Admin implies every other action, and granting roles.
	Admin Action = "admin"
)

// Actions lists every action, for validation and help.
var Actions = []Action{Deploy, Rollback, Cancel, Lock, Unlock, Train, Confirm, Override, Admin}

// Known reports whether a is a defined action.
func Known(a Action) bool { return slices.Contains(Actions, a) }

// Binding gives a role to users and groups on app/env patterns. A pattern
// is APP/ENV where each side is a glob (`*`, `?`, `[a-z]`) that may hold
// brace alternatives: "accounting/{staging,production}", "*/testing".
// A bare "APP" means "APP/*"; no patterns means "*/*".
type Binding struct {
	Role   string
	Users  []string // "*" is every user the config knows
	Groups []string
	On     []string
}

// Grant is a role given to one user at run time by an admin.
type Grant struct {
	User      string    `json:"user"`
	Role      string    `json:"role"`
	App       string    `json:"app,omitempty"` // "" = every app
	Env       string    `json:"env,omitempty"` // "" = every env
	GrantedBy string    `json:"granted_by"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"` // zero: until revoked
	// Since is when the grant it replaced, in force as this one was
	// made, began (that one's Held): a grant replaced (lengthened,
	// shortened) goes on, one revoked and made again does not. Zero for
	// one that replaced none.
	Since time.Time `json:"since,omitzero"`
}

// Held is when g's user began to hold it without a break: Since, or
// Created for a grant that replaced none.
func (g Grant) Held() time.Time {
	if g.Since.IsZero() {
		return g.Created
	}
	return g.Since
}

// Active reports whether g is in force at now.
func (g Grant) Active(now time.Time) bool { return g.Expires.IsZero() || now.Before(g.Expires) }

// Rules are the configured roles, groups and bindings.
type Rules struct {
	Roles    map[string][]Action // role name → actions
	Groups   map[string][]string // group name → user names
	Bindings []Binding
	Users    []string // every user the config knows
}

// Policy answers permission questions. It is immutable and safe for
// concurrent use; runtime grants are passed in per question because they
// live in the store.
type Policy struct {
	rules    Rules
	groupsOf map[string][]string
}

// New checks rules and returns a policy.
func New(rules Rules) (*Policy, error) {
	var problems []string
	for role, acts := range rules.Roles {
		for _, a := range acts {
			if !Known(a) {
				problems = append(problems, fmt.Sprintf("role %s: unknown action %q (known: %s)", role, a, actionList()))
			}
		}
	}
	known := map[string]bool{}
	for _, u := range rules.Users {
		known[u] = true
	}
	groupsOf := map[string][]string{}
	for g, members := range rules.Groups {
		for _, m := range members {
			if !known[m] {
				problems = append(problems, fmt.Sprintf("group %s: unknown user %q", g, m))
			}
			groupsOf[m] = append(groupsOf[m], g)
		}
	}
	for i, b := range rules.Bindings {
		if _, ok := rules.Roles[b.Role]; !ok {
			problems = append(problems, fmt.Sprintf("access[%d]: unknown role %q", i, b.Role))
		}
		for _, u := range b.Users {
			if u != "*" && !known[u] {
				problems = append(problems, fmt.Sprintf("access[%d]: unknown user %q", i, u))
			}
		}
		for _, g := range b.Groups {
			if _, ok := rules.Groups[g]; !ok {
				problems = append(problems, fmt.Sprintf("access[%d]: unknown group %q", i, g))
			}
		}
		for _, p := range b.On {
			if err := CheckPattern(p); err != nil {
				problems = append(problems, fmt.Sprintf("access[%d]: %v", i, err))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("access rules: %s", strings.Join(problems, "; "))
	}
	for u := range groupsOf {
		sort.Strings(groupsOf[u])
	}
	return &Policy{rules: rules, groupsOf: groupsOf}, nil
}

func actionList() string {
	s := make([]string, len(Actions))
	for i, a := range Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// Decision is the answer to one permission question.
type Decision struct {
	Allowed bool
	// Via names what allowed it ("role deployer via group backend").
	Via string
	// Reason says why it was refused and who can help.
	Reason string
}

// Source is one effective grant of a user, for /whoami.
type Source struct {
	Role    string
	Actions []Action
	On      []string
	Via     string
}

// Effective lists where each of user's grants comes from.
func (p *Policy) Effective(user string, grants []Grant, now time.Time) []Source {
	var out []Source
	for _, b := range p.rules.Bindings {
		if via, ok := p.binds(b, user); ok {
			on := b.On
			if len(on) == 0 {
				on = []string{"*/*"}
			}
			out = append(out, Source{Role: b.Role, Actions: p.rules.Roles[b.Role], On: on, Via: via})
		}
	}
	// A grant outlives nothing: a user no longer in the config may only
	// read, whatever was granted to the name before.
	known := slices.Contains(p.rules.Users, user)
	for _, g := range grants {
		if g.User != user || !g.Active(now) || !known {
			continue
		}
		via := "granted by " + g.GrantedBy
		if !g.Expires.IsZero() {
			// In now's zone (the bot's), as the grant's own reply
			// and every other time the bot shows: in UTC, whoami
			// named another hour than the grant did.
			via += " until " + g.Expires.In(now.Location()).Format("2006-01-02 15:04:05 MST")
		}
		out = append(out, Source{Role: g.Role, Actions: p.rules.Roles[g.Role], On: []string{grantScope(g)}, Via: via})
	}
	return out
}

func grantScope(g Grant) string {
	app, env := g.App, g.Env
	if app == "" {
		app = "*"
	}
	if env == "" {
		env = "*"
	}
	return app + "/" + env
}

// binds reports whether binding b applies to user, and how.
func (p *Policy) binds(b Binding, user string) (string, bool) {
	if !slices.Contains(p.rules.Users, user) {
		return "", false
	}
	for _, u := range b.Users {
		if u == user {
			return "config", true
		}
		if u == "*" {
			return "config (every user)", true
		}
	}
	for _, g := range b.Groups {
		if slices.Contains(p.groupsOf[user], g) {
			return "config, group " + g, true
		}
	}
	return "", false
}

// Check decides whether user may do action on app/env. App and env may be
// empty for actions without a scope (a global lock): only grants on every
// app and env allow those.
func (p *Policy) Check(user string, action Action, app, env string, grants []Grant, now time.Time) Decision {
	if via, ok := p.allow(user, action, app, env, grants, now); ok {
		return Decision{Allowed: true, Via: via}
	}
	scope := "everything"
	if app != "" {
		scope = app
		if env != "" {
			scope += "/" + env
		}
	}
	reason := fmt.Sprintf("%s may not %s %s: no role grants %q there", user, action, scope, action)
	admins := p.Admins()
	if !p.KnownUser(user) {
		// A grant would be refused too: only configured users hold any.
		reason = fmt.Sprintf("%s may not %s %s: %s is not a user in the config, where users: must name them and a role grant it", orNobody(user), action, scope, orNobody(user))
		if len(admins) > 0 {
			reason += " (admins: " + strings.Join(admins, ", ") + ")"
		}
		return Decision{Reason: reason + "; until then: " + ReadCommands}
	}
	if len(admins) > 0 {
		reason += "; an admin can grant it: " + strings.Join(admins, ", ")
	}
	return Decision{Reason: reason}
}

func (p *Policy) allow(user string, action Action, app, env string, grants []Grant, now time.Time) (string, bool) {
	for _, s := range p.Effective(user, grants, now) {
		if !slices.Contains(s.Actions, action) && !slices.Contains(s.Actions, Admin) {
			continue
		}
		for _, pat := range s.On {
			if matchScope(pat, app, env) {
				return "role " + s.Role + " (" + s.Via + ")", true
			}
		}
	}
	return "", false
}

// IsAdmin reports whether user holds the admin action everywhere.
func (p *Policy) IsAdmin(user string, grants []Grant, now time.Time) bool {
	return p.Check(user, Admin, "", "", grants, now).Allowed
}

// Admins lists the users the config makes admins on every app and env.
func (p *Policy) Admins() []string {
	var out []string
	for _, u := range p.rules.Users {
		if _, ok := p.allow(u, Admin, "", "", nil, time.Time{}); ok {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// KnownUser reports whether the config names user.
func (p *Policy) KnownUser(user string) bool { return slices.Contains(p.rules.Users, user) }

// ReadCommands are the commands anyone may run, named in the config or not.
const ReadCommands = "status, history, stats, train (the list), admins, help and whoami"

func orNobody(user string) string {
	if user == "" {
		return "this chat user"
	}
	return user
}

// RoleExists reports whether role is configured.
func (p *Policy) RoleExists(role string) bool {
	_, ok := p.rules.Roles[role]
	return ok
}

// Roles lists the configured role names.
func (p *Policy) Roles() []string {
	out := make([]string, 0, len(p.rules.Roles))
	for r := range p.rules.Roles {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// matchScope matches a pattern against app/env. An empty app or env (a
// question about everything) only matches a "*" on that side.
func matchScope(pattern, app, env string) bool {
	pa, pe, ok := strings.Cut(pattern, "/")
	if !ok {
		pe = "*"
	}
	return matchPart(pa, app) && matchPart(pe, env)
}

func matchPart(pattern, s string) bool {
	if s == "" {
		return pattern == "*"
	}
	for _, alt := range expandBraces(pattern) {
		if ok, err := path.Match(alt, s); err == nil && ok {
			return true
		}
	}
	return false
}

// expandBraces turns "a{b,c}d" into ["abd", "acd"]; one level of braces.
func expandBraces(p string) []string {
	i := strings.IndexByte(p, '{')
	if i < 0 {
		return []string{p}
	}
	j := strings.IndexByte(p[i:], '}')
	if j < 0 {
		return []string{p}
	}
	j += i
	var out []string
	for _, alt := range strings.Split(p[i+1:j], ",") {
		for _, rest := range expandBraces(p[j+1:]) {
			out = append(out, p[:i]+alt+rest)
		}
	}
	return out
}

// CheckPattern reports whether p is a valid APP or APP/ENV pattern: each
// side a glob with {a,b} alternatives, one level deep. A pattern that
// could never match (an empty side, braces expandBraces does not read
// whole) is refused rather than granting nothing in silence.
func CheckPattern(p string) error {
	parts := strings.Split(p, "/")
	if p == "" || len(parts) > 2 {
		return fmt.Errorf("pattern %q: want APP or APP/ENV", p)
	}
	switch {
	case parts[0] == "" && len(parts) == 2 && parts[1] != "":
		return fmt.Errorf("pattern %q: the app side is empty; want APP/ENV, like */%s for %[2]s of every app", p, parts[1])
	case parts[0] == "":
		return fmt.Errorf("pattern %q: the app side is empty; want APP or APP/ENV", p)
	case len(parts) == 2 && parts[1] == "":
		return fmt.Errorf("pattern %q: the env side is empty; want APP/ENV, or APP alone (%s) for every env of it", p, parts[0])
	}
	for i, part := range parts {
		if err := checkBraces(part); err != nil {
			return fmt.Errorf("pattern %q: %v", p, err)
		}
		for _, alt := range expandBraces(part) {
			if alt == "" {
				return fmt.Errorf("pattern %q: an alternative leaves the %s side empty; each must name something", p, [...]string{"app", "env"}[i])
			}
			if _, err := path.Match(alt, "x"); err != nil {
				return fmt.Errorf("pattern %q: %v", p, err)
			}
		}
	}
	return nil
}

// checkBraces accepts the braces expandBraces reads whole: closed, not
// nested, not empty, with the commas inside them (a name has none).
func checkBraces(s string) error {
	const allowed = "braces hold plain alternatives, one level deep, like {staging,production}"
	open := -1 // index of the brace that is open
	for i, r := range s {
		switch {
		case r == '{' && open >= 0:
			return errors.New("nested braces; " + allowed)
		case r == '{':
			open = i
		case r == '}' && open < 0:
			return errors.New("unbalanced braces: a } without its {")
		case r == '}' && i == open+1:
			return errors.New("empty braces {}; " + allowed)
		case r == '}':
			open = -1
		case r == ',' && open < 0:
			return errors.New("a comma outside braces; alternatives go in braces, like {staging,production}")
		}
	}
	if open >= 0 {
		return errors.New("unbalanced braces: a { without its }")
	}
	return nil
}
