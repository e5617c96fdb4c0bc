package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Sentry is the Sentry organization the bot reports releases and deploys
// to and watches after deploys.
type Sentry struct {
	// URL is Sentry's base URL; default https://sentry.io (set it for a
	// self-hosted Sentry).
	URL string `yaml:"url"`
	Org string `yaml:"org"`
	// Token is an auth token with project:releases and event:read
	// (project:read for issue lists); take it from ${SENTRY_AUTH_TOKEN}.
	Token string `yaml:"token"`
	// WebhookSecret is the integration's client secret that signs alert
	// webhooks (Sentry-Hook-Signature); without it /sentry/webhook is off.
	WebhookSecret string `yaml:"webhook_secret"`
	// Release is the release version template; default "{app}@{build}".
	Release string `yaml:"release"`
}

// EnvSentry maps an env to its Sentry project and says how to watch it
// after a deploy.
type EnvSentry struct {
	Project string `yaml:"project"`
	// Environment is Sentry's name of the env; default the env's name.
	Environment string `yaml:"environment"`
	// Watch is how long to watch errors after a deploy or rollback;
	// default 15m.
	Watch Duration `yaml:"watch"`
	// Interval between polls; default 1m.
	Interval Duration `yaml:"interval"`
	// A spike is an error rate of at least Factor × the hour before the
	// deploy and at least MinEvents per minute, for Consecutive intervals
	// in a row, which hold at least MinEvents errors together (at an
	// interval under 1m, the rate is under MinEvents errors an interval).
	// Defaults: 3, 5, 2.
	Factor      float64 `yaml:"factor"`
	MinEvents   float64 `yaml:"min_events"`
	Consecutive int     `yaml:"consecutive"`
	// AutoRollback rolls back by itself on a spike; default false (the
	// spike is posted with a Rollback button).
	AutoRollback bool `yaml:"auto_rollback"`
}

// The defaults of an env's sentry watch, as sentry.Policy has them.
const (
	defaultSentryWatch       = 15 * time.Minute
	defaultSentryInterval    = time.Minute
	defaultSentryConsecutive = 2
)

// Configured reports whether Sentry is set up.
func (s *Sentry) Configured() bool { return s != nil && s.Org != "" }

// WebhookOff reports whether Sentry is set up without its alert webhook:
// an empty webhook_secret turns /sentry/webhook off, so that the
// reference config's ${SENTRY_CLIENT_SECRET:-}, unset, means no webhook
// rather than a start refused. WebhookOffNote says so, for the start-up
// log and check-config, since nothing else would.
func (s *Sentry) WebhookOff() bool { return s.Configured() && s.WebhookSecret == "" }

// WebhookOffNote is what the bot and check-config say when WebhookOff.
const WebhookOffNote = "the Sentry webhook endpoint (POST /sentry/webhook) is off because sentry.webhook_secret is empty"

func (c *Config) validateSentry(loc locator, ps *problems) {
	if s := c.Sentry; s != nil {
		if s.Org == "" {
			ps.add(loc.line("sentry"), "sentry.org: required")
		}
		if s.Token == "" {
			ps.add(loc.line("sentry"), "sentry.token: required (from the environment: ${SENTRY_AUTH_TOKEN})")
		}
		switch at := loc.line("sentry", "url"); {
		case s.URL == "":
		case !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://"):
			ps.add(at, "sentry.url: want an http:// or https:// URL")
		case splitPassword(s.URL):
			ps.add(at, "sentry.url: %s", splitPasswordAdvice)
		case badPort(s.URL):
			ps.add(at, "sentry.url: %s", badPortProblem)
		case hasUserInfo(s.URL):
			// The client's requests carry the token in their
			// Authorization header: net/http adds no basic auth then.
			ps.add(at, "sentry.url: %s", unusedUserInfo("token"))
		}
	}
	c.validateSharedWatch(loc, ps)
	for _, appName := range c.AppNames() {
		app := c.Apps[appName]
		for _, envName := range app.EnvNames() {
			e := app.Envs[envName]
			if e.Sentry == nil {
				continue
			}
			at := func(path ...any) int {
				return loc.line(append([]any{"apps", appName, "environments", envName, "sentry"}, path...)...)
			}
			p := "apps." + appName + ".environments." + envName + ".sentry"
			if !c.Sentry.Configured() {
				ps.add(at(), "%s: needs the top-level sentry section (org, token)", p)
			}
			if e.Sentry.Project == "" {
				ps.add(at(), "%s.project: required", p)
			}
			// YAML reads .inf and .nan as numbers, which no comparison
			// below refuses: an infinite factor or min_events made every
			// interval after a deploy a spike.
			for _, f := range []struct {
				key string
				v   float64
			}{{"factor", e.Sentry.Factor}, {"min_events", e.Sentry.MinEvents}} {
				if math.IsInf(f.v, 0) || math.IsNaN(f.v) {
					got := fmt.Sprint(f.v)
					if _, n := loc.find("apps", appName, "environments", envName, "sentry", f.key); n != nil {
						got = n.Value
					}
					ps.add(at(f.key), "%s.%s: want a finite number, got %s", p, f.key, got)
				}
			}
			// Left out, each has a default; written as 0 it would read as
			// "no bar" or "no watch", which the watch never did, and a
			// negative one was taken for its default without a word.
			// Each is named with the value written, at its own line.
			notPositive := map[string]struct {
				bad bool
				got string
			}{
				"factor":      {e.Sentry.Factor <= 0, fmt.Sprint(e.Sentry.Factor)},
				"min_events":  {e.Sentry.MinEvents <= 0, fmt.Sprint(e.Sentry.MinEvents)},
				"consecutive": {e.Sentry.Consecutive <= 0, fmt.Sprint(e.Sentry.Consecutive)},
				"watch":       {e.Sentry.Watch <= 0, e.Sentry.Watch.D().String()},
				"interval":    {e.Sentry.Interval <= 0, e.Sentry.Interval.D().String()},
			}
			for _, key := range []string{"factor", "min_events", "consecutive", "watch", "interval"} {
				v := notPositive[key]
				if !v.bad {
					continue
				}
				line, n := loc.find("apps", appName, "environments", envName, "sentry", key)
				switch {
				case n != nil && isNull(n):
					// Written empty: the default, as if left out.
				case n != nil:
					ps.add(line, "%s.%s: must be more than 0, got %s (leave it out for the default)", p, key, n.Value)
				case v.got != "0" && v.got != "0s":
					ps.add(at(key), "%s.%s: must be more than 0, got %s (leave it out for the default)", p, key, v.got)
				}
			}
			// The bar is factor × the baseline: at 1 or under, the usual
			// error rate crosses it after every deploy (0.5 written for
			// "50 % more" would roll every deploy back).
			if f := e.Sentry.Factor; f > 0 && f <= 1 {
				ps.add(at("factor"), "%s.factor: %g would make the usual error rate a spike; a spike is factor × the rate before the deploy: over 1 (1.5 for 50 %% more)", p, f)
			}
			// Sentry counts events per whole seconds at the finest: a
			// shorter interval would leave every watch inconclusive.
			if iv := e.Sentry.Interval.D(); iv > 0 && (iv < time.Second || iv%time.Second != 0) {
				ps.add(at("interval"), "%s.interval: %s is not a whole number of seconds (Sentry counts per second at the finest)", p, iv)
			}
			// Past 30m the baseline is read over two intervals before the
			// deploy: past 1h it would reach hours back, to another time
			// of day's error rate.
			if iv := e.Sentry.Interval.D(); iv > time.Hour {
				ps.add(at("interval"), "%s.interval: %s is over 1h: the baseline, two intervals before the deploy, would reach hours back; at most 1h", p, iv)
			}
			// A watch judges one interval per tick, ceil(watch/interval)
			// in all: with fewer than a spike needs in a row it ends
			// quiet whatever the errors do, and auto_rollback never acts.
			watch, iv, n := e.Sentry.Watch.D(), e.Sentry.Interval.D(), e.Sentry.Consecutive
			if watch <= 0 {
				watch = defaultSentryWatch
			}
			if iv <= 0 {
				iv = defaultSentryInterval
			}
			if n <= 0 {
				n = defaultSentryConsecutive
			}
			if held := int((watch + iv - 1) / iv); iv <= time.Hour && held < n {
				ivs := "intervals"
				if held == 1 {
					ivs = "interval"
				}
				ps.add(at("watch"), "%s.watch: %s holds %d %s of %s and a spike takes %d in a row (consecutive): no spike could ever be seen; watch at least %s",
					p, watch, held, ivs, iv, n, time.Duration(n)*iv)
			} else if iv <= time.Hour && watch < iv {
				// Sentry is read once per whole interval: a shorter watch
				// ran a whole interval all the same, and rolled back by
				// itself past the end the config gave it.
				ps.add(at("watch"), "%s.watch: %s is shorter than interval (%s): the error rate is read one whole interval at a time, so the watch would run %s, not %s; watch at least %s, or poll at a shorter interval",
					p, watch, iv, iv, watch, iv)
			}
		}
	}
}

// validateSharedWatch refuses auto_rollback on an env whose Sentry project
// and environment another env reports to as well (two apps in one
// project, each env named prod, say). A watch counts every error of the
// project and environment, whatever app or release raised it, and a
// deploy of the other env does not end it: a spike the other app's deploy
// caused would roll this one back by itself, and its baseline holds the
// other's errors. An alert about such a project and environment is posted
// without a Rollback button for the same reason.
func (c *Config) validateSharedWatch(loc locator, ps *problems) {
	type user struct{ app, env string }
	seen := map[string][]user{} // project and Sentry environment -> envs
	for _, appName := range c.AppNames() {
		app := c.Apps[appName]
		for _, envName := range app.EnvNames() {
			if e := app.Envs[envName]; e != nil && e.Sentry != nil && e.Sentry.Project != "" {
				k := sentryKey(e.Sentry, envName)
				seen[k] = append(seen[k], user{appName, envName})
			}
		}
	}
	for _, appName := range c.AppNames() {
		app := c.Apps[appName]
		for _, envName := range app.EnvNames() {
			e := app.Envs[envName]
			if e == nil || e.Sentry == nil || !e.Sentry.AutoRollback || e.Sentry.Project == "" {
				continue
			}
			for _, o := range seen[sentryKey(e.Sentry, envName)] {
				if o.app == appName && o.env == envName {
					continue
				}
				env := e.Sentry.Environment
				if env == "" {
					env = envName
				}
				ps.add(loc.line("apps", appName, "environments", envName, "sentry", "auto_rollback"),
					"apps.%s.environments.%s.sentry.auto_rollback: Sentry project %s, environment %s is apps.%s.environments.%s's too: the watch counts the errors of both, and a spike the other's deploy caused would roll this one back by itself; give each env a project or an environment of its own, or leave auto_rollback off (a spike is posted with its new issues and a Rollback button)",
					appName, envName, e.Sentry.Project, env, o.app, o.env)
				break
			}
		}
	}
}

// sentryKey is the Sentry project and environment env (named envName)
// reports to.
func sentryKey(s *EnvSentry, envName string) string {
	env := s.Environment
	if env == "" {
		env = envName
	}
	return s.Project + "\x00" + env
}
