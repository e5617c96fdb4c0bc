package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/switchman-bot/switchman/internal/acl"
)

// Access gives a role to users and groups on app/env patterns
// ("accounting/{staging,production}", "*/testing"; none means everywhere).
type Access struct {
	Role   string   `yaml:"role"`
	Users  []string `yaml:"users"` // "*" is every user named in users
	Groups []string `yaml:"groups"`
	On     []string `yaml:"on"`
}

// builtinRoles exist unless the config defines a role of the same name.
var builtinRoles = map[string][]acl.Action{
	"admin":    {acl.Admin},
	"deployer": {acl.Deploy, acl.Rollback, acl.Cancel, acl.Lock, acl.Unlock, acl.Confirm, acl.Train},
}

// RoleActions returns every role, the built-in ones included.
func (c *Config) RoleActions() map[string][]acl.Action {
	out := map[string][]acl.Action{}
	for r, acts := range builtinRoles {
		out[r] = acts
	}
	for r, acts := range c.Roles {
		conv := make([]acl.Action, len(acts))
		for i, a := range acts {
			conv[i] = acl.Action(a)
		}
		out[r] = conv
	}
	return out
}

// UserNames lists every user the config names: users, admins, deployers
// and group members, sorted.
func (c *Config) UserNames() []string {
	seen := map[string]bool{}
	for u := range c.Users {
		seen[u] = true
	}
	for _, list := range [][]string{c.Admins, c.Deployers} {
		for _, u := range list {
			seen[u] = true
		}
	}
	for _, members := range c.Groups {
		for _, u := range members {
			seen[u] = true
		}
	}
	out := make([]string, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// AccessRules is the permission model the config describes: admins and
// deployers are shorthands for access entries of the built-in roles.
func (c *Config) AccessRules() acl.Rules {
	var bindings []acl.Binding
	if len(c.Admins) > 0 {
		bindings = append(bindings, acl.Binding{Role: "admin", Users: c.Admins})
	}
	if len(c.Deployers) > 0 {
		bindings = append(bindings, acl.Binding{Role: "deployer", Users: c.Deployers})
	}
	for _, a := range c.Access {
		bindings = append(bindings, acl.Binding{Role: a.Role, Users: a.Users, Groups: a.Groups, On: a.On})
	}
	return acl.Rules{Roles: c.RoleActions(), Groups: c.Groups, Bindings: bindings, Users: c.UserNames()}
}

// UserBySlack returns the user whose slack id is id.
func (c *Config) UserBySlack(id string) (string, bool) {
	for name, u := range c.Users {
		if u.Slack != "" && u.Slack == id {
			return name, true
		}
	}
	return "", false
}

// UserByDiscord returns the user whose discord id is id.
func (c *Config) UserByDiscord(id string) (string, bool) {
	for name, u := range c.Users {
		if u.Discord != "" && u.Discord == id {
			return name, true
		}
	}
	return "", false
}

// validateAccess checks roles, groups and access entries with their lines.
func (c *Config) validateAccess(loc locator, ps *problems) {
	known := c.UserNames()
	for _, role := range sortedKeys(c.Roles) {
		if !namePattern.MatchString(role) {
			ps.add(loc.line("roles", role), "role name %q %s", role, nameRule)
		}
		for i, a := range c.Roles[role] {
			if !acl.Known(acl.Action(a)) {
				ps.add(loc.line("roles", role, i), "roles.%s[%d]: unknown action %q; actions are %s", role, i, a, actionNames())
			}
		}
		if role == "admin" && !slices.Contains(c.Roles[role], string(acl.Admin)) {
			// admins: gives this role: without the admin action the
			// users under admins: would be admins nowhere, so none would
			// grant, check in or be named as one who can force a deploy,
			// while the config reads as if they were.
			ps.add(loc.line("roles", role), "roles.admin: redefines the built-in role admin, which admins: gives, without the admin action, so the users under admins: would be no admins; keep admin among its actions, or give the role another name and grant it with an access entry")
		}
	}
	roles := c.RoleActions()
	for _, g := range sortedKeys(c.Groups) {
		if !namePattern.MatchString(g) {
			ps.add(loc.line("groups", g), "group name %q %s", g, nameRule)
		}
		// A member is a user (UserNames) even if named nowhere else.
		for i, m := range c.Groups[g] {
			if p := userNameProblem(m); p != "" {
				ps.add(loc.line("groups", g, i), "groups.%s[%d]: %s", g, i, p)
			} else if IsBotUser(m) {
				ps.add(loc.line("groups", g, i), "groups.%s[%d]: %q is the bot's own name: %s", g, i, m, botUserWhy)
			}
		}
	}
	for i, a := range c.Access {
		at := func(path ...any) int { return loc.line(append([]any{"access", i}, path...)...) }
		if _, ok := roles[a.Role]; !ok {
			ps.add(at("role"), "access[%d].role: unknown role %q; roles are %s", i, a.Role, joinSorted(roles))
		}
		if len(a.Users) == 0 && len(a.Groups) == 0 {
			ps.add(at(), "access[%d]: name users or groups that get role %s", i, a.Role)
		}
		for j, u := range a.Users {
			if p := userNameProblem(u); u != "*" && p != "" {
				ps.add(at("users", j), "access[%d].users[%d]: %s", i, j, p)
			} else if u != "*" && !slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, u) }) {
				// One that differs from a known name in case alone is
				// refused as such by validateNameCase.
				ps.add(at("users", j), "access[%d].users[%d]: unknown user %q; add it under users", i, j, u)
			}
		}
		for j, g := range a.Groups {
			if _, ok := c.Groups[g]; !ok {
				ps.add(at("groups", j), "access[%d].groups[%d]: unknown group %q", i, j, g)
			}
		}
		if _, n := loc.find("access", i, "on"); n != nil && len(a.On) == 0 {
			// No on means everywhere; an empty one (its patterns
			// commented out, or []) was meant to narrow the grant, and
			// would widen it to every app and env instead.
			ps.add(at("on"), "access[%d].on: empty, which would give role %s on every app and env; list APP or APP/ENV patterns, or leave the key out to mean every app and env", i, a.Role)
		}
		for j, p := range a.On {
			if err := acl.CheckPattern(p); err != nil {
				ps.add(at("on", j), "access[%d].on[%d]: %v", i, j, err)
			}
		}
	}
}

func joinSorted[V any](m map[string]V) string { return strings.Join(sortedKeys(m), ", ") }

func actionNames() string {
	names := make([]string, len(acl.Actions))
	for i, a := range acl.Actions {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// userNamePattern is what grant and revoke take after the @ (the chat
// parser's rule): a configured name outside it could never be named there,
// and one with a leading @ or a space was meant as another.
var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

const userNameRule = "a user name is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit, e.g. ana"

// userNameProblem says why name cannot be a user's, or "" when it can. An
// empty name is left to the callers, which say so in their own words.
func userNameProblem(name string) string {
	switch {
	case name == "" || strings.TrimSpace(name) == "":
		return ""
	case strings.HasPrefix(name, "@"):
		return fmt.Sprintf("%q starts with @, which no user's name does (the @ only marks a name in chat, as in grant @ana); write %q", name, strings.TrimLeft(name, "@"))
	case strings.ContainsFunc(name, unicode.IsSpace):
		return fmt.Sprintf("%q holds a space, so grant and revoke could never name it; %s", name, userNameRule)
	case !userNamePattern.MatchString(name) || strings.Contains(name, ".."):
		return fmt.Sprintf("%q is not a user name that grant and revoke could name; %s", name, userNameRule)
	case slices.Contains([]string{"channel", "everyone", "here"}, strings.ToLower(name)):
		return fmt.Sprintf("%q is what chat platforms notify a whole channel by (@%s), so grant and revoke could never name it; name the person", name, strings.ToLower(name))
	}
	return ""
}

// UserNameProblem says why name cannot be a user's, as the config says of
// one it refuses, or "" when it can (or is empty).
func UserNameProblem(name string) string { return userNameProblem(name) }

// validateNameCase refuses two spellings of one name that differ only in
// case. Names are compared exactly, as the adapters hand them over (the
// users key a chat id maps to, the console's user as written), so admins:
// [Ana] beside users: {ana: …} would be a second user, and the chat user
// ana would get nothing given to Ana. The first spelling met counts: the
// users keys, then admins, deployers, groups, access entries and
// bot.console_user.
func (c *Config) validateNameCase(loc locator, ps *problems) {
	type first struct {
		name, where string
		line        int
	}
	seen := map[string]first{}
	note := func(name, where string, line int) {
		if name == "*" || strings.TrimSpace(name) == "" {
			return
		}
		k := strings.ToLower(name)
		f, ok := seen[k]
		_, isKey := c.Users[name]
		switch {
		case !ok:
			seen[k] = first{name, where, line}
		case isKey && where != "users":
			// Two users keys told apart by case are refused once, there.
		case f.name != name && where == "users":
			ps.add(line, "users: %q differs from %q (line %d) only in case; names are compared exactly, case and all, but two users told apart by case alone are one typo from each other's roles: give them names that differ otherwise", name, f.name, f.line)
		case f.name != name:
			ps.add(line, "%s: %q differs from %q (%s, line %d) only in case; names are compared exactly, case and all, so they would be two users and neither would get what is given to the other: write %q", where, name, f.name, f.where, f.line, f.name)
		}
	}
	for _, u := range sortedKeys(c.Users) {
		note(u, "users", loc.line("users", u))
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"admins", c.Admins}, {"deployers", c.Deployers}} {
		for i, u := range l.names {
			note(u, fmt.Sprintf("%s[%d]", l.key, i), loc.line(l.key, i))
		}
	}
	for _, g := range sortedKeys(c.Groups) {
		for i, u := range c.Groups[g] {
			note(u, fmt.Sprintf("groups.%s[%d]", g, i), loc.line("groups", g, i))
		}
	}
	for i, a := range c.Access {
		for j, u := range a.Users {
			note(u, fmt.Sprintf("access[%d].users[%d]", i, j), loc.line("access", i, "users", j))
		}
	}
	if u := c.Bot.ConsoleUser; u != "" {
		note(u, "bot.console_user", loc.line("bot", "console_user"))
	}
}
