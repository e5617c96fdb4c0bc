package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/redact"
)

// App returns the app named name.
func (c *Config) App(name string) (*App, bool) {
	a, ok := c.Apps[name]
	return a, ok && a != nil
}

// AppNames returns the names of all apps, sorted.
func (c *Config) AppNames() []string {
	return sortedKeys(c.Apps)
}

// Env returns the app's environment named name.
func (a *App) Env(name string) (*Env, bool) {
	e, ok := a.Envs[name]
	return e, ok && e != nil
}

// EnvNames returns the names of the app's environments, sorted.
func (a *App) EnvNames() []string {
	return sortedKeys(a.Envs)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Summary describes the configuration for people, as `bot check-config`
// prints it: apps and envs sorted by name, hosts in deploy order. The
// credentials and query strings of URLs are left out.
func (c *Config) Summary() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("config %s: %d app(s)", c.File, len(c.Apps))
	listen := c.Bot.Listen
	if c.Bot.MetricsListen != "" {
		listen += ", metrics_listen " + c.Bot.MetricsListen
	}
	w("bot: name %s, listen %s, log level %s", c.Bot.Name, listen, c.Bot.LogLevel)
	w("store: %s", c.Store.describe())
	w("retention: records %s, audit %s", kept(c.Store.Retention.Records, fmt.Sprintf(" (the newest %d of each app/env always)", KeepRecords)), kept(c.Store.Retention.Audit, ""))
	w("users: %s", listOrNone(sortedKeys(c.Users)))
	// A name under admins, deployers or groups is a user too, but with no
	// chat identity: only the console acts as them. Listed apart, a typo
	// (admins: [anna] beside users: {ana: …}) shows as a user of its own.
	var plain []string
	for _, u := range c.UserNames() {
		if _, ok := c.Users[u]; !ok {
			plain = append(plain, u)
		}
	}
	if len(plain) > 0 {
		w("console-only users (not under users, so no Slack or Discord id maps to them): %s", strings.Join(plain, ", "))
	}
	w("admins: %s", listOrNone(c.Admins))
	w("deployers: %s", listOrNone(c.Deployers))
	b.WriteString(c.chatSummary())
	for _, name := range c.AppNames() {
		a := c.Apps[name]
		w("")
		w("app %s", a.Name)
		optional := ""
		if a.Artifact.ChecksumOptional() {
			optional = " (checksum optional)"
		}
		if a.Artifact.URL != "" {
			w("  artifact:     url %s%s", redact.URL(a.Artifact.URL), optional)
		} else {
			w("  artifact:     path %s%s", a.Artifact.Path, optional)
		}
		w("  deploy path:  %s (keep %d releases)", a.Path, a.KeepReleases)
		if len(a.Shared) > 0 {
			w("  shared:       %s", strings.Join(a.Shared, ", "))
		}
		if a.Migrations.Run != "" {
			w("  migrations:   yes")
		} else {
			w("  migrations:   none")
		}
		switch {
		case a.Health.URL != "":
			w("  health:       url %s (timeout %s, every %s)", redact.URL(a.Health.URL), a.Health.Timeout, a.Health.Interval)
		case a.Health.Command != "":
			w("  health:       command (timeout %s, every %s)", a.Health.Timeout, a.Health.Interval)
		default:
			w("  health:       none")
		}
		w("  default env:  %s", a.DefaultEnv)
		for _, envName := range a.EnvNames() {
			e := a.Envs[envName]
			w("  env %s: transport %s, %d host(s), parallel %d, batch size %d, step timeout %s",
				e.Name, e.Transport, len(e.Hosts), e.Parallel, e.BatchSize, e.StepTimeout)
			width := 0
			for _, h := range e.Hosts {
				width = max(width, len(h.Name))
			}
			for _, h := range e.Hosts {
				w("    %-*s  %s", width, h.Name, h.Address)
			}
		}
	}
	return b.String()
}

// describe names the store the bot opens: Redis when set (its password
// hidden; store.path is then unused), else the embedded file.
func (s Store) describe() string {
	r := s.Redis
	if r == nil {
		return s.Path
	}
	d := "redis " + redact.URL(r.URL)
	if r.Prefix != "" {
		d += fmt.Sprintf(", key prefix %q", r.Prefix)
	}
	if r.CAFile != "" {
		d += ", CA " + r.CAFile
	}
	return d
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// kept says how long something is kept, for Summary.
func kept(d Duration, always string) string {
	if d == 0 {
		return "kept forever"
	}
	days := d.D() / (24 * time.Hour)
	if d.D()%(24*time.Hour) == 0 {
		return fmt.Sprintf("kept %dd%s", days, always)
	}
	return "kept " + d.String() + always
}
