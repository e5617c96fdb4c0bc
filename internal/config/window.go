package config

import (
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
)

// Window limits when an env may be deployed to.
type Window struct {
	// Timezone is an IANA zone name ("Europe/Warsaw") or UTC; default UTC.
	// Not Local: see loadZone.
	Timezone string `yaml:"timezone"`
	// Weekly lists open periods: "Mon-Thu 09:00-16:00", "Fri 22:00-02:00"
	// (spans midnight), "weekdays 10:00-12:00". None: always open but for
	// freezes.
	Weekly []string `yaml:"weekly"`
	// Freezes are closed date ranges with a message.
	Freezes []Freeze `yaml:"freezes"`
	// RequireAdminPresent allows deploys only while an admin is around
	// (checked in with /here, or active on Slack).
	RequireAdminPresent bool `yaml:"require_admin_present"`
}

// Freeze is a closed period: dates ("2026-12-20") or date and time
// ("2026-12-20 18:00") in the window's zone; a plain To date includes
// that whole day.
type Freeze struct {
	From    string `yaml:"from"`
	To      string `yaml:"to"`
	Message string `yaml:"message"`
}

// Schedule returns the env's window as the access policy evaluates it.
// It is only called on validated configs.
func (e *Env) Schedule() (acl.Schedule, error) {
	w := e.Window
	if w == nil {
		return acl.Schedule{Loc: time.UTC}, nil
	}
	loc, err := loadZone(w.Timezone)
	if err != nil {
		return acl.Schedule{}, err
	}
	s := acl.Schedule{Loc: loc}
	for _, spec := range w.Weekly {
		span, err := acl.ParseSpan(spec)
		if err != nil {
			return acl.Schedule{}, err
		}
		s.Weekly = append(s.Weekly, span)
	}
	for _, f := range w.Freezes {
		fr, err := acl.ParseFreeze(f.From, f.To, f.Message, loc)
		if err != nil {
			return acl.Schedule{}, err
		}
		s.Freezes = append(s.Freezes, fr)
	}
	return s, nil
}

// validateWindow reports the problems of an env's window with their lines.
func (e *Env) validateWindow(loc locator, ps *problems, app string) {
	w := e.Window
	if w == nil {
		return
	}
	at := func(path ...any) int {
		return loc.line(append([]any{"apps", app, "environments", e.Name, "window"}, path...)...)
	}
	p := "apps." + app + ".environments." + e.Name + ".window"
	zone, err := loadZone(w.Timezone)
	if err != nil {
		ps.add(at("timezone"), "%s.timezone: %v", p, err)
		zone = time.UTC // to check the freezes still
	}
	if _, n := loc.find("apps", app, "environments", e.Name, "window", "weekly"); n != nil && len(w.Weekly) == 0 {
		// No weekly means always open but for freezes; an empty one
		// (its periods commented out, or []) was meant to close the env
		// outside them, and would open it at every hour instead.
		ps.add(at("weekly"), "%s.weekly: empty, which would leave the env open at every hour; list periods such as \"Mon-Fri 09:00-17:00\", or leave the key out for a window open but during freezes", p)
	}
	for i, spec := range w.Weekly {
		if _, err := acl.ParseSpan(spec); err != nil {
			ps.add(at("weekly", i), "%s.weekly[%d]: %v", p, i, err)
		}
	}
	for i, f := range w.Freezes {
		if _, err := acl.ParseFreeze(f.From, f.To, f.Message, zone); err != nil {
			ps.add(at("freezes", i), "%s.freezes[%d]: %v", p, i, err)
		}
		if f.Message == "" {
			ps.add(at("freezes", i), "%s.freezes[%d]: a freeze needs a message saying why", p, i)
		}
	}
}

// validateAdminPresence refuses require_admin_present where no user is an
// admin of every app and env: only such an admin checks in with here or
// counts as around, and only an admin grants admin, so no admin could ever
// be around and the env would refuse every deploy, telling people to wait
// for a check-in that cannot come.
func (c *Config) validateAdminPresence(loc locator, ps *problems) {
	policy, err := acl.New(c.AccessRules())
	if err != nil || len(policy.Admins()) > 0 {
		// Rules that do not hold are refused with the access rules.
		return
	}
	for _, app := range c.AppNames() {
		a := c.Apps[app]
		for _, name := range a.EnvNames() {
			env, _ := a.Env(name)
			if env.Window == nil || !env.Window.RequireAdminPresent {
				continue
			}
			ps.add(loc.line("apps", app, "environments", name, "window", "require_admin_present"),
				"apps.%s.environments.%s.window.require_admin_present: no user is an admin of every app and env (admins:, or an access entry giving a role with admin and no on:), and only such an admin checks in with here, so no deploy of %s/%s could ever run; name an admin, or leave the key out", app, name, app, name)
		}
	}
}
