package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// baseYAML is a valid configuration using every key; validation cases
// edit one thing in it.
const baseYAML = `bot:
  name: switchman
  listen: 127.0.0.1:8080
  log_level: info
users:
  ana:
    slack: U1
admins: [ana]
deployers: [bob]
apps:
  web:
    default_env: prod
    artifact:
      url: https://builds.example.com/{app}/{build}.tar.gz
    path: /srv/web
    keep_releases: 5
    shared: [storage]
    restart: systemctl restart web
    migrations:
      list: ./migrate pending
      run: ./migrate up
    health:
      url: http://{host}:8000/health
      timeout: 30s
      interval: 500ms
    environments:
      prod:
        transport: ssh
        ssh: {user: deploy, key_file: /etc/switchman/id_ed25519, known_hosts: /etc/switchman/known_hosts}
        parallel: 10
        batch_size: 1
        step_timeout: 5m
        hosts:
          - web1
          - web2=10.0.0.2
      staging:
        transport: local
        hosts: [localhost]
`

// want is one expected problem: its line and a part of its message.
type want struct {
	line int
	msg  string
}

// edit returns yaml with each old string, which must occur once, replaced
// by its new string.
func edit(t *testing.T, yaml string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(yaml, pairs[i]); n != 1 {
			t.Fatalf("edit %q: found %d times, want once", pairs[i], n)
		}
		yaml = strings.Replace(yaml, pairs[i], pairs[i+1], 1)
	}
	return yaml
}

// problemsOf parses yaml and returns its problems, failing unless the
// error is an *Error.
func problemsOf(t *testing.T, yaml string) []Problem {
	t.Helper()
	c, err := Parse("test.yaml", []byte(yaml), nil)
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error: got %T (%v), want *Error", err, err)
	}
	if c != nil {
		t.Errorf("Parse with problems: got a config, want nil")
	}
	return e.Problems
}

// checkProblems compares got with want exactly: same count, and in line
// order each problem on the wanted line with the wanted text.
func checkProblems(t *testing.T, got []Problem, wants []want) {
	t.Helper()
	ok := len(got) == len(wants)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].File == "test.yaml" && got[i].Line == wants[i].line && strings.Contains(got[i].Msg, wants[i].msg)
	}
	if ok {
		return
	}
	var g, w strings.Builder
	for _, p := range got {
		fmt.Fprintf(&g, "\n\t%s", p)
	}
	for _, p := range wants {
		fmt.Fprintf(&w, "\n\ttest.yaml:%d: …%s…", p.line, p.msg)
	}
	t.Errorf("problems:\ngot:%s\nwant:%s", g.String(), w.String())
}

func TestBaseIsValid(t *testing.T) {
	checkProblems(t, problemsOf(t, baseYAML), nil)
}

func TestValidationRules(t *testing.T) {
	tests := []struct {
		name  string
		edits []string // old, new, … applied to baseYAML
		want  func(y string) []want
	}{
		{
			// The app's path is the same in both envs: their deploys
			// would switch one current and prune each other's releases.
			name:  "two envs on one machine",
			edits: []string{"      staging:\n        transport: local\n        hosts: [localhost]\n", "      staging:\n        transport: ssh\n        ssh: {user: deploy, key_file: /etc/switchman/id_ed25519, known_hosts: /etc/switchman/known_hosts}\n        hosts:\n          - stage1=10.0.0.2:22\n"},
			want:  one("stage1=", "apps.web.environments.staging.hosts[0]: 10.0.0.2:22 is also a host of prod: two envs of one app on one machine deploy into the same /srv/web"),
		},
		{
			name:  "two envs on one address, other ports",
			edits: []string{"      staging:\n        transport: local\n        hosts: [localhost]\n", "      staging:\n        transport: ssh\n        ssh: {user: deploy, key_file: /etc/switchman/id_ed25519, known_hosts: /etc/switchman/known_hosts, port: 2222}\n        hosts:\n          - stage1=10.0.0.2\n"},
		},
		{
			name:  "two envs on one address, behind a bastion",
			edits: []string{"      staging:\n        transport: local\n        hosts: [localhost]\n", "      staging:\n        transport: ssh\n        ssh: {user: deploy, key_file: /etc/switchman/id_ed25519, known_hosts: /etc/switchman/known_hosts, jump: {address: 'bastion.example.com:22'}}\n        hosts:\n          - stage1=10.0.0.2\n"},
		},
		{
			name:  "log level",
			edits: []string{"log_level: info", "log_level: loud"},
			want:  one("log_level", `bot.log_level: want debug, info, warn or error, got "loud"`),
		},
		{
			name:  "a user with the bot's own name",
			edits: []string{"users:\n", "users:\n  Switchman: {}\n"},
			want:  one("Switchman: {}", `users: "Switchman" is the bot's own name`),
		},
		{
			// UserNames makes every name listed anywhere a user: the bot's
			// own name would hold its locks wherever it is listed.
			name:  "an admin with the bot's own name",
			edits: []string{"admins: [ana]", "admins: [ana, Switchman]"},
			want:  one("admins", `admins[1]: "Switchman" is the bot's own name`),
		},
		{
			name:  "a deployer with the bot's own name",
			edits: []string{"deployers: [bob]", "deployers: [switchman]"},
			want:  one("deployers", `deployers[0]: "switchman" is the bot's own name`),
		},
		{
			name:  "a group member with the bot's own name",
			edits: []string{"deployers: [bob]", "deployers: [bob]\ngroups:\n  ops: [bob, SWITCHMAN]"},
			want:  one("ops:", `groups.ops[1]: "SWITCHMAN" is the bot's own name`),
		},
		{
			name:  "a console user with the bot's own name",
			edits: []string{"bot:\n", "bot:\n  console_user: switchman\n"},
			want:  one("console_user", `bot.console_user: "switchman" is the bot's own name`),
		},
		{
			// The console acts as bot.console_user and grants name it as
			// any other user: it is held to the same rule.
			name:  "a console user written as a mention",
			edits: []string{"bot:\n", "bot:\n  console_user: '@ana'\n"},
			want:  one("console_user", `bot.console_user: "@ana" starts with @, which no user's name does (the @ only marks a name in chat, as in grant @ana); write "ana"`),
		},
		{
			name:  "a console user with a space",
			edits: []string{"bot:\n", "bot:\n  console_user: ana smith\n"},
			want:  one("console_user", `bot.console_user: "ana smith" holds a space, so grant and revoke could never name it`),
		},
		{
			name:  "a console user named as a channel broadcast",
			edits: []string{"bot:\n", "bot:\n  console_user: here\n"},
			want:  one("console_user", `bot.console_user: "here" is what chat platforms notify a whole channel by (@here)`),
		},
		{
			name:  "a console user with a slash",
			edits: []string{"bot:\n", "bot:\n  console_user: ops/ana\n"},
			want:  one("console_user", `bot.console_user: "ops/ana" is not a user name that grant and revoke could name`),
		},
		{
			name:  "a blank console user",
			edits: []string{"bot:\n", "bot:\n  console_user: ' '\n"},
			want:  one("console_user", `bot.console_user: blank: name the user the console acts as`),
		},
		{
			// grant and revoke take @NAME with the chat parser's rule: a
			// name outside it can never be named there, and the console
			// user is one word.
			name:  "a user name with a space",
			edits: []string{"users:\n", "users:\n  Ana Smith: {slack: U2}\n"},
			want:  one("Ana Smith:", `users: "Ana Smith" holds a space, so grant and revoke could never name it`),
		},
		{
			name:  "an admin written as a mention",
			edits: []string{"admins: [ana]", "admins: [\"@ana\"]"},
			want:  one("admins", `admins[0]: "@ana" starts with @, which no user's name does (the @ only marks a name in chat, as in grant @ana); write "ana"`),
		},
		{
			name:  "a deployer named with a slash",
			edits: []string{"deployers: [bob]", "deployers: [ops/bob]"},
			want:  one("deployers", `deployers[0]: "ops/bob" is not a user name that grant and revoke could name; a user name is 1-64 ASCII letters`),
		},
		{
			name:  "a group member written as a mention",
			edits: []string{"deployers: [bob]", "deployers: [bob]\ngroups:\n  ops: [bob, '@cy']"},
			want:  one("ops:", `groups.ops[1]: "@cy" starts with @`),
		},
		{
			name:  "an access user with a space",
			edits: []string{"deployers: [bob]", "deployers: [bob]\naccess:\n  - role: deployer\n    users: [bob smith]"},
			want:  one("users: [bob smith]", `access[0].users[0]: "bob smith" holds a space`),
		},
		{
			name:  "a user named as a channel broadcast",
			edits: []string{"deployers: [bob]", "deployers: [Here]"},
			want:  one("deployers", `deployers[0]: "Here" is what chat platforms notify a whole channel by (@here)`),
		},
		{
			name:  "user names grant can name",
			edits: []string{"deployers: [bob]", "deployers: [bob, ana.smith, j_doe-2, 7even]"},
		},
		{
			// The adapters give the users key as written, and the policy
			// compares exactly: Ana would be a second user, and the chat
			// user ana no admin.
			name:  "an admin differing from a user in case",
			edits: []string{"admins: [ana]", "admins: [Ana]"},
			want:  one("admins", `admins[0]: "Ana" differs from "ana" (users, line 6) only in case; names are compared exactly, case and all, so they would be two users and neither would get what is given to the other: write "ana"`),
		},
		{
			name:  "two users differing in case",
			edits: []string{"users:\n", "users:\n  Ana: {slack: U2}\n"},
			want:  one("  ana:", `users: "ana" differs from "Ana" (line 6) only in case`),
		},
		{
			name:  "a group member differing from a deployer in case",
			edits: []string{"deployers: [bob]", "deployers: [bob]\ngroups:\n  ops: [BOB]"},
			want:  one("ops:", `groups.ops[0]: "BOB" differs from "bob" (deployers[0], line 9) only in case`),
		},
		{
			name:  "an access user differing from a user in case",
			edits: []string{"deployers: [bob]", "deployers: [bob]\naccess:\n  - role: deployer\n    users: [ANA]"},
			want:  one("users: [ANA]", `access[0].users[0]: "ANA" differs from "ana" (users, line 6) only in case`),
		},
		{
			name:  "a console user differing from a user in case",
			edits: []string{"bot:\n", "bot:\n  console_user: Ana\n"},
			want:  one("console_user", `bot.console_user: "Ana" differs from "ana" (users, line 7) only in case`),
		},
		{
			name:  "one spelling in every place",
			edits: []string{"deployers: [bob]", "deployers: [bob]\ngroups:\n  ops: [bob, ana]\naccess:\n  - role: deployer\n    users: [ana]", "bot:\n", "bot:\n  console_user: ana\n"},
		},
		{
			name: "sentry interval under a second",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, interval: 1500ms}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.interval: 1.5s is not a whole number of seconds"),
		},
		{
			name: "sentry interval over an hour",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, interval: 90m, watch: 4h}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.interval: 1h30m0s is over 1h: the baseline, two intervals before the deploy"),
		},
		{
			// Each tick of a watch judges one interval: a watch of fewer
			// intervals than a spike needs in a row never sees one.
			name: "sentry watch of one interval",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, watch: 5m, interval: 5m, auto_rollback: true}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.watch: 5m0s holds 1 interval of 5m0s and a spike takes 2 in a row (consecutive): no spike could ever be seen; watch at least 10m0s"),
		},
		{
			name: "sentry watch under the default interval times consecutive",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, watch: 1m}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.watch: 1m0s holds 1 interval of 1m0s and a spike takes 2 in a row (consecutive): no spike could ever be seen; watch at least 2m0s"),
		},
		{
			name: "sentry consecutive over the default watch",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, consecutive: 20}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.watch: 15m0s holds 15 intervals of 1m0s and a spike takes 20 in a row (consecutive): no spike could ever be seen; watch at least 20m0s"),
		},
		{
			// One read takes a whole interval: a shorter watch ran the
			// whole interval, past the end the config gave it.
			name: "sentry watch shorter than the interval",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, watch: 30s, interval: 1m, consecutive: 1, auto_rollback: true}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.watch: 30s is shorter than interval (1m0s): the error rate is read one whole interval at a time, so the watch would run 1m0s, not 30s; watch at least 1m0s, or poll at a shorter interval"),
		},
		{
			name: "sentry watch of one interval, consecutive 1",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, watch: 1m, interval: 1m, consecutive: 1}\n"},
		},
		{
			name: "sentry watch of exactly consecutive intervals",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, watch: 10m, interval: 5m}\n"},
		},
		{
			// Read as "50 % more", 0.5 makes the usual error rate a spike:
			// every deploy would be rolled back.
			name: "sentry factor under 1",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, factor: 0.5, auto_rollback: true}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.factor: 0.5 would make the usual error rate a spike; a spike is factor × the rate before the deploy: over 1 (1.5 for 50 % more)"),
		},
		{
			// .inf and .nan are numbers to YAML: an infinite factor
			// against a zero baseline made a bar of NaN, which every
			// interval crossed, and every deploy rolled back by itself.
			name: "sentry factor infinite",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, factor: .inf, auto_rollback: true}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.factor: want a finite number, got .inf"),
		},
		{
			name: "sentry min_events not a number",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, min_events: .nan}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.min_events: want a finite number, got .nan"),
		},
		{
			name: "sentry factor of 1",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, factor: 1}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.factor: 1 would make the usual error rate a spike"),
		},
		{
			name: "sentry factor of 1.5",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, factor: 1.5}\n"},
		},
		{
			// Written as 0, each was read as its default.
			name: "sentry min_events of 0",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, min_events: 0}\n"},
			want: one("sentry: {project", "apps.web.environments.prod.sentry.min_events: must be more than 0, got 0 (leave it out for the default)"),
		},
		{
			name: "sentry factor, consecutive, watch and interval of 0",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry:\n          factor: 0\n          consecutive: 0\n          watch: 0s\n          interval: 0m\n          project: web\n"},
			want: func(y string) []want {
				return concat(y,
					one("factor: 0", "apps.web.environments.prod.sentry.factor: must be more than 0, got 0 (leave it out for the default)"),
					one("consecutive: 0", "apps.web.environments.prod.sentry.consecutive: must be more than 0, got 0 (leave it out for the default)"),
					one("watch: 0s", "apps.web.environments.prod.sentry.watch: must be more than 0, got 0s (leave it out for the default)"),
					one("interval: 0m", "apps.web.environments.prod.sentry.interval: must be more than 0, got 0m (leave it out for the default)"))
			},
		},
		{
			// Each negative key is named with what was written, at its
			// own line: one message for all five left the reader to
			// find which, and where.
			name: "sentry keys negative",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry:\n          factor: -3\n          min_events: -0.5\n          consecutive: -2\n          watch: -15m\n          interval: -1m\n          project: web\n"},
			want: func(y string) []want {
				return concat(y,
					one("factor: -3", "apps.web.environments.prod.sentry.factor: must be more than 0, got -3 (leave it out for the default)"),
					one("min_events: -0.5", "apps.web.environments.prod.sentry.min_events: must be more than 0, got -0.5 (leave it out for the default)"),
					one("consecutive: -2", "apps.web.environments.prod.sentry.consecutive: must be more than 0, got -2 (leave it out for the default)"),
					one("watch: -15m", "apps.web.environments.prod.sentry.watch: must be more than 0, got -15m (leave it out for the default)"),
					one("interval: -1m", "apps.web.environments.prod.sentry.interval: must be more than 0, got -1m (leave it out for the default)"))
			},
		},
		{
			name: "sentry factor negative alone",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry:\n          project: web\n          factor: -1\n"},
			want: one("factor: -1", "apps.web.environments.prod.sentry.factor: must be more than 0, got -1 (leave it out for the default)"),
		},
		{
			name: "sentry interval of whole seconds",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, interval: 2m}\n"},
		},
		{
			name:  "train schedule with its own zone",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"CRON_TZ=America/New_York 0 14 * * 1-5\"\nusers:\n"},
			want:  one("departure:", `trains.daily.departure: "CRON_TZ=America/New_York 0 14 * * 1-5": set the time zone with the train's timezone key, not in the schedule`),
		},
		{
			// crontab(5) takes 7 for Sunday; the train's parser does not,
			// and says which day is Sunday rather than only the range.
			name:  "train departure with Sunday as 7",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * 1-7\"\n    departure: \"0 14 * * 7\"\nusers:\n"},
			want: func(y string) []want {
				return append(one("boarding:", `trains.daily.boarding: "0 10 * * 1-7": the day of the week runs from 0 (Sunday) to 6 (Saturday), or SUN to SAT; write Sunday as 0 or SUN, not 7`)(y),
					one("departure:", `trains.daily.departure: "0 14 * * 7": the day of the week runs from 0 (Sunday) to 6 (Saturday), or SUN to SAT; write Sunday as 0 or SUN, not 7`)(y)...)
			},
		},
		{
			// A 7 is not blamed for another field's mistake.
			name:  "train departure with a bad minute and Sunday as 7",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * 0\"\n    departure: \"61 14 * * 7\"\nusers:\n"},
			want:  one("departure:", `trains.daily.departure: end of range (61) above maximum (59): 61`),
		},
		{
			// Cron takes the day, and the train would never leave.
			name:  "train departure on a day no month has",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 31 4,6 *\"\nusers:\n"},
			want:  one("departure:", `trains.daily.departure: "0 14 31 4,6 *" never comes: no month in it has that day`),
		},
		{
			name:  "train departure on 29 February",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 28 2 *\"\n    departure: \"0 14 29 2 *\"\nusers:\n"},
		},
		{
			name:  "train grace negative",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * 1-5\"\n    grace: -15m\nusers:\n"},
			want:  one("grace:", `trains.daily.grace: must be 0s or more, got -15m0s`),
		},
		{
			name:  "train deploy_timeout zero",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * 1-5\"\n    deploy_timeout: 0s\nusers:\n"},
			want:  one("deploy_timeout:", `trains.daily.deploy_timeout: must be more than 0s, got 0s`),
		},
		{
			name:  "train deploy_timeout negative",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * 1-5\"\n    deploy_timeout: -5m\nusers:\n"},
			want:  one("deploy_timeout:", `trains.daily.deploy_timeout: must be more than 0s, got -5m0s`),
		},
		{
			name:  "train deploy_timeout set",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * 1-5\"\n    deploy_timeout: 2h\nusers:\n"},
		},
		{
			name:  "train schedule without a wall clock",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"@every 24h\"\n    departure: \"0 14 * * 1-5\"\nusers:\n"},
			want:  one("boarding:", `trains.daily.boarding: "@every 24h" is not a calendar schedule (use minute hour day month weekday)`),
		},
		{
			// time.LoadLocation reads Local as the process's zone: each
			// replica would judge the schedule in its own TZ.
			name:  "train in the process's zone",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    timezone: Local\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * 1-5\"\nusers:\n"},
			want:  one("timezone", `trains.daily.timezone: "Local" is the zone of whatever machine the bot runs on`),
		},
		{
			// The first channel gets each car's deploy and its migrations
			// prompt: one no platform has would leave them unseen.
			name:  "train channel with a space",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#rel eases\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * 1-5\"\nusers:\n"},
			want:  one("channels:", `trains.daily.channels[0]: want a channel id or name without spaces, like C0123456789 or #deploys, got "#rel eases"`),
		},
		{
			name:  "train channel empty",
			edits: []string{"users:\n", "trains:\n  daily:\n    env: prod\n    channels: [\"#r\", \"\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * 1-5\"\nusers:\n"},
			want:  one("channels:", `trains.daily.channels[1]: want a channel id or name, like C0123456789 or #deploys, got an empty one`),
		},
		// No weekly means always open but for freezes; a weekly left
		// empty, its periods commented out, must not mean the same.
		{
			name:  "window weekly an empty list",
			edits: []string{"batch_size: 1", "batch_size: 1\n        window: {timezone: UTC, weekly: []}"},
			want:  one("window:", "apps.web.environments.prod.window.weekly: empty, which would leave the env open at every hour; list periods such as \"Mon-Fri 09:00-17:00\", or leave the key out for a window open but during freezes"),
		},
		{
			name:  "window weekly with its periods commented out",
			edits: []string{"batch_size: 1", "batch_size: 1\n        window:\n          timezone: UTC\n          weekly:\n          # - Mon-Fri 09:00-17:00\n          require_admin_present: true"},
			want:  one("weekly:", "apps.web.environments.prod.window.weekly: empty, which would leave the env open at every hour"),
		},
		// A period starting and ending at the same time would be read
		// as open 24 hours: a typo that opens the env all day.
		{
			name:  "window weekly starting and ending at the same time",
			edits: []string{"batch_size: 1", "batch_size: 1\n        window:\n          timezone: UTC\n          weekly: [\"Mon-Fri 09:00-17:00\", \"Sat 09:00-09:00\"]"},
			want:  one("Sat 09:00-09:00", `apps.web.environments.prod.window.weekly[1]: window "Sat 09:00-09:00" starts and ends at 09:00, which would leave it open 24 hours; for a whole day write Sat 00:00-24:00`),
		},
		{
			name:  "window weekly a whole day",
			edits: []string{"batch_size: 1", "batch_size: 1\n        window:\n          timezone: UTC\n          weekly: [\"Sat 00:00-24:00\"]"},
		},
		// Only an admin of everything checks in: with none, no admin
		// is ever around, and the env refuses every deploy.
		{
			name:  "admin present without admins",
			edits: []string{"admins: [ana]\n", "", "batch_size: 1", "batch_size: 1\n        window:\n          timezone: UTC\n          require_admin_present: true"},
			want:  one("require_admin_present", "apps.web.environments.prod.window.require_admin_present: no user is an admin of every app and env"),
		},
		{
			name:  "admin present with an admin of one app only",
			edits: []string{"admins: [ana]\n", "roles:\n  lead: [admin]\naccess:\n  - role: lead\n    users: [ana]\n    on: [web]\n", "batch_size: 1", "batch_size: 1\n        window:\n          timezone: UTC\n          require_admin_present: true"},
			want:  one("require_admin_present", "no deploy of web/prod could ever run"),
		},
		{
			name:  "admin present with an admin by an access entry",
			edits: []string{"admins: [ana]\n", "roles:\n  lead: [admin]\naccess:\n  - role: lead\n    users: [ana]\n", "batch_size: 1", "batch_size: 1\n        window:\n          timezone: UTC\n          require_admin_present: true"},
		},
		{
			name:  "admin present with an admin",
			edits: []string{"batch_size: 1", "batch_size: 1\n        window:\n          timezone: UTC\n          require_admin_present: true"},
		},
		{
			name:  "window in the process's zone",
			edits: []string{"batch_size: 1", "batch_size: 1\n        window: {timezone: Local, weekly: [\"Mon-Fri 09:00-17:00\"]}"},
			want:  one("window:", `apps.web.environments.prod.window.timezone: "Local" is the zone of whatever machine the bot runs on`),
		},
		{
			// Many systems have a zone file localtime: the machine's zone.
			name:  "window in the machine's localtime",
			edits: []string{"batch_size: 1", "batch_size: 1\n        window: {timezone: localtime}"},
			want:  one("window:", `window.timezone: "localtime" is the zone of whatever machine the bot runs on, which may differ between replicas; use an IANA name such as Europe/Berlin, or UTC`),
		},
		{
			name:  "window in UTC",
			edits: []string{"batch_size: 1", "batch_size: 1\n        window: {timezone: UTC}"},
		},
		{
			name:  "log level is case-insensitive",
			edits: []string{"log_level: info", "log_level: WARN"},
		},
		{
			name:  "listen",
			edits: []string{"listen: 127.0.0.1:8080", "listen: localhost"},
			want:  one("listen", "bot.listen: want host:port"),
		},
		{
			name:  "listen port out of range",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:99999"},
			want:  one("listen", `bot.listen: want host:port, like 127.0.0.1:8080, got "127.0.0.1:99999"`),
		},
		{
			name:  "listen port not a port",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:80a"},
			want:  one("listen", "bot.listen: want host:port"),
		},
		{
			name:  "listen port by name",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:http"},
		},
		{
			name:  "metrics listen",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\n  metrics_listen: 127.0.0.1:9090"},
		},
		{
			name:  "metrics listen not host:port",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\n  metrics_listen: 9090"},
			want:  one("metrics_listen", `bot.metrics_listen: want host:port, like 127.0.0.1:9090, got "9090"`),
		},
		{
			name:  "metrics_listen the same as listen",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\n  metrics_listen: 127.0.0.1:8080"},
			want:  one("metrics_listen", `bot.metrics_listen: "127.0.0.1:8080" is bot.listen as well, and one address takes one listener: leave metrics_listen out to serve /metrics and /healthz on bot.listen`),
		},
		{
			name:  "metrics_listen on every address, listen on loopback",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\n  metrics_listen: 0.0.0.0:8080"},
			want:  one("metrics_listen", `bot.metrics_listen: "0.0.0.0:8080" takes the port of bot.listen "127.0.0.1:8080"`),
		},
		{
			name:  "listen without host, metrics_listen on loopback",
			edits: []string{"listen: 127.0.0.1:8080", "listen: \":8080\"\n  metrics_listen: 127.0.0.1:8080"},
			want:  one("metrics_listen", `bot.metrics_listen: "127.0.0.1:8080" takes the port of bot.listen ":8080"`),
		},
		{
			name:  "listen on IPv6 wildcard, metrics_listen on an internal address",
			edits: []string{"listen: 127.0.0.1:8080", "listen: \"[::]:8080\"\n  metrics_listen: 10.0.0.5:8080"},
			want:  one("metrics_listen", `takes the port of bot.listen "[::]:8080"`),
		},
		{
			name:  "metrics_listen as localhost",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\n  metrics_listen: LOCALHOST:8080"},
			want:  one("metrics_listen", `takes the port of bot.listen "127.0.0.1:8080"`),
		},
		{
			name:  "metrics_listen with the port by name",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:80\n  metrics_listen: 127.0.0.1:http"},
			want:  one("metrics_listen", `takes the port of bot.listen "127.0.0.1:80"`),
		},
		{
			name:  "metrics_listen on another address, same port",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\n  metrics_listen: 10.0.0.5:8080"},
		},
		{
			name:  "metrics_listen on every address, another port",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:8080\n  metrics_listen: 0.0.0.0:9090"},
		},
		{
			name:  "listen and metrics_listen on free ports",
			edits: []string{"listen: 127.0.0.1:8080", "listen: 127.0.0.1:0\n  metrics_listen: 0.0.0.0:0"},
		},
		{
			name:  "statsd",
			edits: []string{"log_level: info", "log_level: info\n  statsd: 127.0.0.1:8125"},
		},
		{
			name:  "statsd without port",
			edits: []string{"log_level: info", "log_level: info\n  statsd: statsd.example.com"},
			want:  one("statsd", `bot.statsd: want host:port, like 127.0.0.1:8125, got "statsd.example.com"`),
		},
		{
			name:  "statsd port out of range",
			edits: []string{"log_level: info", "log_level: info\n  statsd: 127.0.0.1:81250"},
			want:  one("statsd", "bot.statsd: want host:port"),
		},
		{
			name:  "health url placeholder misspelt",
			edits: []string{"url: http://{host}:8000/health", "url: http://{hots}:8000/health"},
			want:  one("url: http://{hots}", "apps.web.health.url: unknown placeholder {hots} for host web1 of prod: it takes {host}, {address}, {app}, {env}, {build} and the host's vars"),
		},
		{
			name:  "health expect placeholder misspelt",
			edits: []string{"timeout: 30s", "expect: \"build={biuld}\"\n      timeout: 30s"},
			want:  one("expect:", "apps.web.health.expect: unknown placeholder {biuld} for host web1 of prod"),
		},
		{
			name: "health url var one host lacks",
			edits: []string{"url: http://{host}:8000/health", "url: http://{ip}:{port}/health",
				"- web1", "- {name: web1, vars: {ip: 10.0.0.1, port: '80'}}",
				"- web2=10.0.0.2", "- {name: web2, vars: {ip: 10.0.0.2, port: '80'}}",
				"hosts: [localhost]", "hosts: [{name: localhost, vars: {port: '80'}}]"},
			want: one("url: http://{ip}", "apps.web.health.url: unknown placeholder {ip} for host localhost of staging"),
		},
		{
			name: "health url vars every host has",
			edits: []string{"url: http://{host}:8000/health", "url: http://{ip}:8000/{app}/{env}/{address}",
				"- web1", "- {name: web1, vars: {ip: 10.0.0.1}}",
				"- web2=10.0.0.2", "- {name: web2, vars: {ip: 10.0.0.2}}",
				"hosts: [localhost]", "hosts: [{name: localhost, vars: {ip: 127.0.0.1}}]",
				"timeout: 30s", "expect: \"{build}\"\n      timeout: 30s"},
		},
		{
			name: "health url with an IPv6 var outside brackets",
			edits: []string{"url: http://{host}:8000/health", "url: http://deploy:s3cr3t-pw@{ip}:8000/health",
				"- web1", "- {name: web1, vars: {ip: 10.0.0.1}}",
				"- web2=10.0.0.2", "- {name: web2, vars: {ip: 'fd00::2'}}",
				"hosts: [localhost]", "hosts: [{name: localhost, vars: {ip: 127.0.0.1}}]"},
			want: one("url: http://deploy", "apps.web.health.url: for host web2 of prod it is not a valid URL once the host's values are filled in: an IPv6 address goes in brackets (http://[{ip}]:8080/health)"),
		},
		{
			name: "health url with an IPv6 var in brackets",
			edits: []string{"url: http://{host}:8000/health", "url: http://[{ip}]:8000/health",
				"- web1", "- {name: web1, vars: {ip: 'fd00::1'}}",
				"- web2=10.0.0.2", "- {name: web2, vars: {ip: 'fd00::2'}}",
				"hosts: [localhost]", "hosts: [{name: localhost, vars: {ip: '::1'}}]"},
		},
		{
			name:  "health url with an address holding its port",
			edits: []string{"url: http://{host}:8000/health", "url: http://{address}:8000/health", "- web2=10.0.0.2", "- web2=10.0.0.2:2222"},
			want:  one("url: http://{address}", "apps.web.health.url: for host web2 of prod it is not a valid URL once the host's values are filled in"),
		},
		{
			name:  "health command with the shell's braces",
			edits: []string{"url: http://{host}:8000/health", "command: curl -fsS localhost:$${PORT}/{host}"},
		},
		{
			name:  "empty admin",
			edits: []string{"admins: [ana]", `admins: [ana, ""]`},
			want:  one("admins", "admins[1]: a user name must not be empty"),
		},
		{
			name:  "admin listed twice",
			edits: []string{"admins: [ana]", "admins: [ana, ana]"},
			want:  one("admins", `admins[1]: "ana" is listed twice`),
		},
		{
			name:  "deployer listed twice",
			edits: []string{"deployers: [bob]", "deployers: [bob, carol, bob]"},
			want:  one("deployers", `deployers[2]: "bob" is listed twice`),
		},
		{
			name:  "deployer not in users is fine",
			edits: []string{"deployers: [bob]", "deployers: [bob, carol]"},
		},
		{
			name:  "app name",
			edits: []string{"  web:", "  Web:"},
			want:  one("  Web:", `app name "Web" must start with a lowercase letter`),
		},
		{
			name:  "app name too long",
			edits: []string{"  web:", "  a23456789012345678901234567890123:"},
			want:  one("  a2345", "app name"),
		},
		{
			name:  "artifact url and path",
			edits: []string{"{build}.tar.gz\n", "{build}.tar.gz\n      path: builds/{build}.tgz\n"},
			want:  one("artifact:", "apps.web.artifact: set url or path, not both"),
		},
		{
			name:  "artifact neither url nor path",
			edits: []string{"    artifact:\n      url: https://builds.example.com/{app}/{build}.tar.gz\n", "    artifact: {}\n"},
			want:  one("artifact:", "apps.web.artifact: set url or path"),
		},
		{
			name:  "artifact url without build",
			edits: []string{"{build}.tar.gz", "latest.tar.gz"},
			want:  one("url: https://builds", "apps.web.artifact.url: must contain {build}"),
		},
		{
			name:  "artifact url not http",
			edits: []string{"url: https://builds", "url: ftp://builds"},
			want:  one("url: ftp", "apps.web.artifact.url: must be an http:// or https:// URL"),
		},
		{
			name:  "artifact url without host",
			edits: []string{"url: https://builds.example.com/{app}/", "url: https:///{app}/"},
			want:  one("url: https:", "must be an http:// or https:// URL"),
		},
		{
			name:  "artifact url with another placeholder",
			edits: []string{"url: https://builds.example.com/{app}/{build}.tar.gz", "url: https://ci:s3cr3t@art-{env}.example.com/{app}/{build}.tar.gz?t={token}&e={env}"},
			want:  one("url: https://ci", "apps.web.artifact.url: unknown placeholder {env}, {token}: artifact.url and artifact.path take only {app} and {build}"),
		},
		{
			name:  "artifact path with another placeholder",
			edits: []string{"url: https://builds.example.com/{app}/{build}.tar.gz", "path: builds/{host}/{app}-{build}.tgz"},
			want:  one("path: builds", "apps.web.artifact.path: unknown placeholder {host}: artifact.url and artifact.path take only {app} and {build}"),
		},
		{
			name:  "artifact checksum unknown",
			edits: []string{"{build}.tar.gz\n", "{build}.tar.gz\n      checksum: off\n"},
			want:  one("checksum: off", `apps.web.artifact.checksum: want required or optional, got "off"`),
		},
		{
			name:  "artifact checksum optional",
			edits: []string{"{build}.tar.gz\n", "{build}.tar.gz\n      checksum: optional\n"},
		},
		{
			name:  "artifact max_unpacked unreadable",
			edits: []string{"{build}.tar.gz\n", "{build}.tar.gz\n      max_unpacked: 20 gigs\n"},
			want:  one("max_unpacked: 20 gigs", `apps.web.artifact.max_unpacked: want a size such as 20GiB, 500MB or 0, got "20 gigs"`),
		},
		{
			name:  "artifact max_unpacked",
			edits: []string{"{build}.tar.gz\n", "{build}.tar.gz\n      max_unpacked: 500MB\n"},
		},
		{
			name:  "min_free_space unreadable",
			edits: []string{"        step_timeout: 5m\n", "        step_timeout: 5m\n        min_free_space: lots\n"},
			want:  one("min_free_space: lots", `apps.web.environments.prod.min_free_space: want a size such as 20GiB, 500MB or 0, got "lots"`),
		},
		{
			name:  "min_free_space negative",
			edits: []string{"        step_timeout: 5m\n", "        step_timeout: 5m\n        min_free_space: -1MiB\n"},
			want:  one("min_free_space: -1MiB", `apps.web.environments.prod.min_free_space: want a size such as 20GiB, 500MB or 0, got "-1MiB"`),
		},
		{
			name:  "min_free_space off",
			edits: []string{"        step_timeout: 5m\n", "        step_timeout: 5m\n        min_free_space: 0\n"},
		},
		{
			name:  "min_free_space",
			edits: []string{"        step_timeout: 5m\n", "        step_timeout: 5m\n        min_free_space: 1GiB\n"},
		},
		{
			name:  "artifact max_entries negative",
			edits: []string{"{build}.tar.gz\n", "{build}.tar.gz\n      max_entries: -1\n"},
			want:  one("max_entries: -1", "apps.web.artifact.max_entries: want a count of entries, or 0 for no limit, got -1"),
		},
		{
			name:  "artifact max_entries no limit",
			edits: []string{"{build}.tar.gz\n", "{build}.tar.gz\n      max_entries: 0\n"},
		},
		{
			name:  "artifact path without build",
			edits: []string{"url: https://builds.example.com/{app}/{build}.tar.gz", "path: builds/{app}.tgz"},
			want:  one("path: builds", "apps.web.artifact.path: must contain {build}"),
		},
		{
			name:  "deploy path missing",
			edits: []string{"    path: /srv/web\n", ""},
			want:  one("  web:", "apps.web.path: the deploy directory on the hosts is required"),
		},
		{
			name:  "deploy path relative",
			edits: []string{"path: /srv/web", "path: srv/web"},
			want:  one("path: srv", `apps.web.path: must be absolute (a relative path is only allowed when every env uses the local transport), got "srv/web"`),
		},
		{
			name:  "deploy path root",
			edits: []string{"path: /srv/web", "path: /"},
			want:  one("path: /\n", "apps.web.path: must not be /"),
		},
		{
			name:  "keep releases one",
			edits: []string{"keep_releases: 5", "keep_releases: 1"},
			want:  one("keep_releases", "apps.web.keep_releases: must be at least 2"),
		},
		{
			name:  "keep releases explicit zero is not defaulted",
			edits: []string{"keep_releases: 5", "keep_releases: 0"},
			want:  one("keep_releases", "got 0"),
		},
		{
			name:  "shared absolute",
			edits: []string{"shared: [storage]", "shared: [/var/storage]"},
			want:  one("shared", `apps.web.shared[0]: must be relative to the release, got "/var/storage"`),
		},
		{
			name:  "shared parent",
			edits: []string{"shared: [storage]", "shared: [../storage]"},
			want:  one("shared", "apps.web.shared[0]: must not contain .."),
		},
		{
			name:  "shared parent inside",
			edits: []string{"shared: [storage]", "shared: [a/../../b]"},
			want:  one("shared", "must not contain .."),
		},
		{
			name:  "shared unclean",
			edits: []string{"shared: [storage]", "shared: [storage, a//b/]"},
			want:  one("shared", `apps.web.shared[1]: must be a clean path like "a/b"`),
		},
		{
			name:  "shared dot",
			edits: []string{"shared: [storage]", "shared: [.]"},
			want:  one("shared", "apps.web.shared[0]: must be a clean path"),
		},
		{
			name:  "shared empty",
			edits: []string{"shared: [storage]", `shared: [""]`},
			want:  one("shared", "apps.web.shared[0]: must not be empty"),
		},
		{
			name:  "shared twice",
			edits: []string{"shared: [storage]", "shared:\n      - storage\n      - storage # again"},
			want:  one("storage # again", `apps.web.shared[1]: "storage" is listed twice (first at line 18)`),
		},
		{
			name:  "restart missing",
			edits: []string{"restart: systemctl restart web", `restart: "  "`},
			want:  one("restart", "apps.web.restart: the command run after switching releases is required"),
		},
		{
			name:  "migrations list without run",
			edits: []string{"      run: ./migrate up\n", ""},
			want:  one("migrations:", "apps.web.migrations: list is set but run is not"),
		},
		{
			// The bot runs migrations when list names pending ones: run
			// alone would never run.
			name:  "migrations run without list",
			edits: []string{"      list: ./migrate pending\n", ""},
			want:  one("migrations:", "apps.web.migrations: run is set but list is not; list prints the pending migrations, and run runs only when it names some"),
		},
		{
			// A backup runs before the migrations the bot runs, and only
			// then: on an app without them it would never run.
			name:  "backup without migrations",
			edits: []string{"    migrations:\n      list: ./migrate pending\n      run: ./migrate up\n", "", "        step_timeout: 5m\n", "        step_timeout: 5m\n        backup: pg_dump -Fc web > shared/web.dump\n"},
			want:  one("backup:", "apps.web.environments.prod.backup: it runs only before the migrations the bot runs, and apps.web has no migrations: it would never run; set migrations.list and migrations.run, or leave backup out"),
		},
		{
			name:  "migrate ask without migrations",
			edits: []string{"    migrations:\n      list: ./migrate pending\n      run: ./migrate up\n", "", "        step_timeout: 5m\n", "        step_timeout: 5m\n        migrate: ask\n"},
			want:  one("migrate: ask", "apps.web.environments.prod.migrate: ask applies to the migrations the bot runs, and apps.web has no migrations: it would never ask for a confirmation; set migrations.list and migrations.run, or leave migrate out"),
		},
		{
			name:  "migrate never without migrations",
			edits: []string{"    migrations:\n      list: ./migrate pending\n      run: ./migrate up\n", "", "        step_timeout: 5m\n", "        step_timeout: 5m\n        migrate: never\n"},
			want:  one("migrate: never", "apps.web.environments.prod.migrate: never applies to the migrations the bot runs, and apps.web has no migrations: it would never refuse a deploy"),
		},
		{
			name:  "migrate auto without migrations",
			edits: []string{"    migrations:\n      list: ./migrate pending\n      run: ./migrate up\n", "", "        step_timeout: 5m\n", "        step_timeout: 5m\n        migrate: auto\n"},
		},
		{
			name:  "backup_timeout zero",
			edits: []string{"        step_timeout: 5m\n", "        step_timeout: 5m\n        backup_timeout: 0s\n"},
			want:  one("backup_timeout", "apps.web.environments.prod.backup_timeout: must be more than 0, got 0s"),
		},
		{
			name:  "backup_timeout negative",
			edits: []string{"        step_timeout: 5m\n", "        step_timeout: 5m\n        backup_timeout: -1m\n"},
			want:  one("backup_timeout", "apps.web.environments.prod.backup_timeout: must be more than 0, got -1m0s"),
		},
		{
			// Left out, it is step_timeout's: one problem, step_timeout's.
			name:  "step_timeout zero, backup_timeout left out",
			edits: []string{"        step_timeout: 5m\n", "        step_timeout: 0s\n"},
			want:  one("step_timeout", "apps.web.environments.prod.step_timeout: must be more than 0, got 0s"),
		},
		{
			name:  "backup with migrations",
			edits: []string{"        step_timeout: 5m\n", "        step_timeout: 5m\n        backup: pg_dump -Fc web > shared/web.dump\n"},
		},
		{
			// The url commented out, the timeout left: no check would
			// run, and every host would count as healthy.
			name:  "health with a timeout alone",
			edits: []string{"      url: http://{host}:8000/health\n", "      # url: http://{host}:8000/health\n"},
			want:  one("health:", "apps.web.health: sets no url or command, so no host would be checked after its restart (its timeout and interval are unused); set url or command, or leave health out for no check"),
		},
		{
			name:  "no health section",
			edits: []string{"    health:\n      url: http://{host}:8000/health\n      timeout: 30s\n      interval: 500ms\n", ""},
		},
		{
			name:  "health url and command",
			edits: []string{"      timeout: 30s", "      command: ./check\n      timeout: 30s"},
			want:  one("health:", "apps.web.health: set url or command, not both"),
		},
		{
			name:  "health url not http",
			edits: []string{"url: http://{host}:8000/health", "url: '{host}:8000/health'"},
			want:  one("{host}:8000", "apps.web.health.url: must be an http:// or https:// URL"),
		},
		{
			name:  "health url port out of range",
			edits: []string{"url: http://{host}:8000/health", "url: http://{host}:80000/health"},
			want:  one("{host}:80000", "apps.web.health.url: its port is not a TCP port (1 to 65535)"),
		},
		{
			name:  "artifact url port zero",
			edits: []string{"url: https://builds.example.com/{app}/", "url: https://builds.example.com:0/{app}/"},
			want:  one("url: https://builds", "apps.web.artifact.url: its port is not a TCP port (1 to 65535)"),
		},
		{
			name:  "health expect without url",
			edits: []string{"url: http://{host}:8000/health", "command: ./check\n      expect: ok"},
			want:  one("expect", "apps.web.health.expect: only used with health.url"),
		},
		{
			name:  "health timeout zero",
			edits: []string{"timeout: 30s", "timeout: 0s"},
			want:  one("timeout: 0s", "apps.web.health.timeout: must be more than 0, got 0s"),
		},
		{
			name:  "health interval negative",
			edits: []string{"interval: 500ms", "interval: -1s"},
			want:  one("interval", "apps.web.health.interval: must be more than 0, got -1s"),
		},
		{
			name:  "health interval as long as the timeout",
			edits: []string{"interval: 500ms", "interval: 30s"},
			want:  one("interval", "apps.web.health.interval: 30s is not shorter than health.timeout (30s): the check would be tried once, never again; want an interval shorter than the timeout"),
		},
		{
			name:  "health interval longer than the timeout",
			edits: []string{"interval: 500ms", "interval: 1m"},
			want:  one("interval", "apps.web.health.interval: 1m0s is not shorter than health.timeout (30s)"),
		},
		{
			name:  "default env required with two envs",
			edits: []string{"    default_env: prod\n", ""},
			want:  one("  web:", "apps.web.default_env: required when an app has more than one environment (prod, staging)"),
		},
		{
			name:  "default env unknown",
			edits: []string{"default_env: prod", "default_env: qa"},
			want:  one("default_env", `apps.web.default_env: "qa" is not an environment of the app (prod, staging)`),
		},
		{
			name:  "env name",
			edits: []string{"      prod:", "      Prod:", "default_env: prod", "default_env: Prod"},
			want:  one("Prod:", `environment name "Prod" must start with a lowercase letter`),
		},
		{
			name:  "transport",
			edits: []string{"transport: ssh", "transport: telnet"},
			want:  one("telnet", `apps.web.environments.prod.transport: want local or ssh, got "telnet"`),
		},
		{
			name:  "ssh without known_hosts",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.known_hosts: required: host keys are always verified"),
		},
		{
			name:  "ssh known_hosts and insecure_ignore_host_key",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, insecure_ignore_host_key: true}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh: set known_hosts or insecure_ignore_host_key: true, not both"),
		},
		{
			name:  "ssh keep_warm negative",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, keep_warm: -1m}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.keep_warm: must be 0s (off) or more, got -1m0s"),
		},
		{
			name:  "ssh jump max_startups of 0",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, jump: {address: bastion.example.com, max_startups: 0}}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.jump.max_startups: must be at least 1, got 0 (leave it out for the default, 8)"),
		},
		{
			// The bastion's sshd counts the logins of both envs.
			name: "two envs through one bastion with other max_startups",
			edits: []string{
				"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, jump: {address: BASTION.example.com, max_startups: 20}}",
				"      staging:\n        transport: local\n        hosts: [localhost]\n", "      staging:\n        transport: ssh\n        ssh: {user: deploy, key_file: /etc/switchman/id_ed25519, known_hosts: /etc/switchman/known_hosts,\n          jump: {address: 'bastion.example.com:22'}}\n        hosts:\n          - stage1=10.0.0.3\n",
			},
			want: one("jump: {address: 'bastion", "apps.web.environments.staging.ssh.jump.max_startups: 8, but apps.web.environments.prod reaches the bastion bastion.example.com:22 with 20 (8 when left out): the bound is the bastion's, shared by every env through it; give them the same"),
		},
		{
			name: "two envs through one bastion with the same max_startups",
			edits: []string{
				"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, jump: {address: bastion.example.com, max_startups: 8}}",
				"      staging:\n        transport: local\n        hosts: [localhost]\n", "      staging:\n        transport: ssh\n        ssh: {user: deploy, key_file: /etc/switchman/id_ed25519, known_hosts: /etc/switchman/known_hosts, jump: {address: 'bastion.example.com:22'}}\n        hosts:\n          - stage1=10.0.0.3\n",
			},
		},
		{
			// Written as 0, each was read as its default.
			name:  "ssh port of 0",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, port: 0}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.port: want 1-65535, got 0"),
		},
		{
			name:  "ssh connect_timeout of 0",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, connect_timeout: 0s}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.connect_timeout: must be more than 0, got 0s (leave it out for the default)"),
		},
		{
			name:  "ssh connect_timeout negative",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, connect_timeout: -10s}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.connect_timeout: must be more than 0, got -10s (leave it out for the default)"),
		},
		{
			name:  "ssh keepalive of 0",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, keepalive: 0s}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.keepalive: must be more than 0, got 0s (leave it out for the default)"),
		},
		{
			name:  "ssh keepalive negative",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, keepalive: -1s}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.keepalive: must be more than 0, got -1s (leave it out for the default)"),
		},
		{
			name:  "ssh without credentials",
			edits: []string{"key_file: /etc/switchman/id_ed25519, ", ""},
			want:  one("ssh: {", "apps.web.environments.prod.ssh: set key_file or agent: true"),
		},
		{
			name:  "max failures",
			edits: []string{"batch_size: 1", "batch_size: 1\n        max_failures: lots"},
			want:  one("max_failures", `apps.web.environments.prod.max_failures: want a count (2) or a percentage (10%), got "lots"`),
		},
		{
			name:  "migrate policy",
			edits: []string{"batch_size: 1", "batch_size: 1\n        migrate: sometimes"},
			want:  one("migrate: sometimes", `apps.web.environments.prod.migrate: want auto, ask or never, got "sometimes"`),
		},
		{
			name:  "haproxy socket",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: /run/haproxy.sock, backend: web}}"},
			want:  one("pool:", `apps.web.environments.prod.pool.haproxy.socket: want unix:/path/to/socket or tcp:host:port, got "/run/haproxy.sock"`),
		},
		{
			// Accepted, each failed only at the first deploy's check, or
			// reached a path relative to wherever the bot (or the via
			// host's sshd) happened to run.
			name:  "haproxy tcp socket without a port",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: 'tcp:127.0.0.1', backend: web}}"},
			want:  one("pool:", `apps.web.environments.prod.pool.haproxy.socket: want tcp:host:port with a port from 1 to 65535, got "tcp:127.0.0.1"`),
		},
		{
			name:  "haproxy tcp socket port out of range",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: 'tcp:127.0.0.1:99999', backend: web}}"},
			want:  one("pool:", `apps.web.environments.prod.pool.haproxy.socket: want tcp:host:port with a port from 1 to 65535, got "tcp:127.0.0.1:99999"`),
		},
		{
			name:  "haproxy tcp socket without a host",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: 'tcp::9999', backend: web}}"},
			want:  one("pool:", `apps.web.environments.prod.pool.haproxy.socket: want tcp:host:port with a port from 1 to 65535, got "tcp::9999"`),
		},
		{
			name:  "haproxy unix socket relative path",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: 'unix:run/haproxy.sock', backend: web}}"},
			want:  one("pool:", `apps.web.environments.prod.pool.haproxy.socket: want unix: and an absolute path, got "unix:run/haproxy.sock"`),
		},
		{
			name:  "haproxy tcp socket",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: 'tcp:[::1]:9999', backend: web}}"},
		},
		{
			// Accepted by check-config, then the bot refused to start.
			name:  "haproxy via without ssh",
			edits: []string{"        hosts: [localhost]\n", "        hosts: [localhost]\n        pool: {haproxy: {socket: 'unix:/run/haproxy.sock', via: lb1, backend: web}}\n"},
			want:  one("pool:", `apps.web.environments.staging.pool.haproxy.via: needs transport: ssh (the socket is reached through an SSH connection to lb1), got transport local`),
		},
		{
			name:  "haproxy without via on a local transport",
			edits: []string{"        hosts: [localhost]\n", "        hosts: [localhost]\n        pool: {haproxy: {socket: 'unix:/run/haproxy.sock', backend: web}}\n"},
		},
		{
			// Both hosts would drain, restart behind and ready one server:
			// web2 restarted in rotation, and web1 taken out for it.
			name:  "haproxy server shared by two hosts",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: 'unix:/run/haproxy.sock', backend: web, server: web}}"},
			want:  one("pool:", `apps.web.environments.prod.pool.haproxy.server: hosts web1 and web2 both name the server "web": each host needs a server of its own (use {host}, {address} or a host var)`),
		},
		{
			name:  "haproxy backend name",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: unix:/run/haproxy.sock, backend: web app}}"},
			want:  one("pool:", `apps.web.environments.prod.pool.haproxy.backend: "web app": use only letters, digits, '.', '_' and '-'`),
		},
		{
			// No host has a var ip: the server would be named "{ip}".
			name:  "haproxy server placeholder",
			edits: []string{"batch_size: 1", "batch_size: 1\n        pool: {haproxy: {socket: unix:/run/haproxy.sock, backend: web, server: '{ip}'}}"},
			want: func(y string) []want {
				w := one("pool:", `pool.haproxy.server: for host web1 it names the server "{ip}"`)(y)
				return append(w, one("pool:", `pool.haproxy.server: for host web2 it names the server "{ip}"`)(y)...)
			},
		},
		{
			name:  "confirm timeout with ask",
			edits: []string{"batch_size: 1", "batch_size: 1\n        migrate: ask\n        confirm_timeout: 0s"},
			want:  one("confirm_timeout", "apps.web.environments.prod.confirm_timeout: with migrate: ask it must be positive, got 0s"),
		},
		{
			// Unused without migrate: ask, it was accepted.
			name:  "confirm timeout negative",
			edits: []string{"batch_size: 1", "batch_size: 1\n        migrate: auto\n        confirm_timeout: -5m"},
			want:  one("confirm_timeout", "apps.web.environments.prod.confirm_timeout: must be positive, got -5m0s: it applies only with migrate: ask"),
		},
		{
			// As wrong as a negative one once migrate is ask.
			name:  "confirm timeout zero without ask",
			edits: []string{"batch_size: 1", "batch_size: 1\n        migrate: never\n        confirm_timeout: 0s"},
			want:  one("confirm_timeout", "apps.web.environments.prod.confirm_timeout: must be positive, got 0s: it applies only with migrate: ask"),
		},
		{
			name:  "confirm timeout zero, migrate left out",
			edits: []string{"batch_size: 1", "batch_size: 1\n        confirm_timeout: 0s"},
			want:  one("confirm_timeout", "apps.web.environments.prod.confirm_timeout: must be positive, got 0s: it applies only with migrate: ask"),
		},
		{
			// Kept for when migrate becomes ask, as documented.
			name:  "confirm timeout without ask",
			edits: []string{"batch_size: 1", "batch_size: 1\n        migrate: auto\n        confirm_timeout: 30m"},
		},
		{
			name:  "delivery",
			edits: []string{"path: /srv/web", "path: /srv/web\n    delivery: carrier-pigeon"},
			want:  one("delivery:", `apps.web.delivery: want push or pull, got "carrier-pigeon"`),
		},
		{
			name:  "recompress",
			edits: []string{"path: /srv/web", "path: /srv/web\n    recompress: brotli"},
			want:  one("recompress:", `apps.web.recompress: want auto or never, got "brotli"`),
		},
		{
			name:  "access unknown role",
			edits: []string{"deployers: [bob]", "deployers: [bob]\naccess:\n  - role: wizard\n    users: [ana]"},
			want:  one("role: wizard", `access[0].role: unknown role "wizard"; roles are admin, deployer`),
		},
		{
			name:  "access unknown user and bad pattern",
			edits: []string{"deployers: [bob]", "deployers: [bob]\naccess:\n  - role: admin\n    users: [zed]\n    on: [a/b/c]"},
			want: func(y string) []want {
				return append(one("zed", `access[0].users[0]: unknown user "zed"; add it under users`)(y),
					one("a/b/c", `access[0].on[0]: pattern "a/b/c": want APP or APP/ENV`)(y)...)
			},
		},
		{
			name:  "access pattern that can never match",
			edits: []string{"deployers: [bob]", "deployers: [bob]\naccess:\n  - role: deployer\n    users: [ana]\n    on:\n      - web/prod\n      - web/{prod,{staging,qa}}"},
			want:  one("{staging", `access[0].on[1]: pattern "web/{prod,{staging,qa}}": nested braces`),
		},
		// No on means every app and env; an on left empty, its patterns
		// commented out, must not mean the same.
		{
			name:  "access on an empty list",
			edits: []string{"deployers: [bob]", "deployers: [bob]\naccess:\n  - role: deployer\n    users: [ana]\n    on: []"},
			want:  one("on: []", `access[0].on: empty, which would give role deployer on every app and env; list APP or APP/ENV patterns, or leave the key out to mean every app and env`),
		},
		{
			name:  "access on with its patterns commented out",
			edits: []string{"deployers: [bob]", "deployers: [bob]\naccess:\n  - role: deployer\n    users: [ana]\n    on:\n      # - web/staging"},
			want:  one("on:", `access[0].on: empty, which would give role deployer on every app and env`),
		},
		{
			// admins: gives the role admin: redefined without the admin
			// action, the users under it would be admins nowhere.
			name:  "admin role redefined without admin",
			edits: []string{"deployers: [bob]", "deployers: [bob]\nroles:\n  admin: [deploy, rollback]"},
			want:  one("admin: [deploy", `roles.admin: redefines the built-in role admin, which admins: gives, without the admin action, so the users under admins: would be no admins`),
		},
		{
			name:  "admin role redefined with admin",
			edits: []string{"deployers: [bob]", "deployers: [bob]\nroles:\n  admin: [admin, deploy]"},
		},
		{
			name:  "deployer role redefined",
			edits: []string{"deployers: [bob]", "deployers: [bob]\nroles:\n  deployer: [deploy]"},
		},
		{
			name:  "role with unknown action",
			edits: []string{"deployers: [bob]", "deployers: [bob]\nroles:\n  tester: [deploy, fly]"},
			want:  one("fly", `roles.tester[1]: unknown action "fly"; actions are deploy, rollback`),
		},
		{
			name:  "no hosts",
			edits: []string{"hosts: [localhost]", "hosts: []"},
			want:  one("hosts: []", "apps.web.environments.staging.hosts: at least one host is required"),
		},
		{
			name:  "hosts missing",
			edits: []string{"        hosts: [localhost]\n", ""},
			want:  one("      staging:", "apps.web.environments.staging.hosts: at least one host is required"),
		},
		{
			name:  "local with two hosts",
			edits: []string{"hosts: [localhost]", "hosts: [a, b]"},
			want:  one("hosts: [a", "transport local deploys to this machine and takes one host, got 2"),
		},
		{
			name:  "duplicate host ignoring case",
			edits: []string{"- web2=10.0.0.2", "- WEB1=10.0.0.2"},
			want:  one("WEB1", `apps.web.environments.prod.hosts[1]: duplicate host name "WEB1" (first at line 34)`),
		},
		{
			name:  "host name",
			edits: []string{"- web2=10.0.0.2", "- -web2=10.0.0.2"},
			want:  one("-web2", `apps.web.environments.prod.hosts[1]: host name "-web2" must start with a letter or digit`),
		},
		{
			name:  "host without name",
			edits: []string{"- web2=10.0.0.2", "- {address: 10.0.0.2}"},
			want:  one("{address", "apps.web.environments.prod.hosts[1]: name is required"),
		},
		{
			// Without a name the address has nothing to default to:
			// the transport would have nothing to dial.
			name:  "host with neither name nor address",
			edits: []string{"- web2=10.0.0.2", "- {vars: {ip: 10.0.0.2}}"},
			want:  one("{vars", "apps.web.environments.prod.hosts[1]: neither name nor address: a host needs a name, which is also its address when address is left out (web1, web1=10.0.0.11 or {name: web1, address: 10.0.0.11})"),
		},
		{
			// The transport would dial each and fail, host by host, in
			// the middle of every deploy.
			name:  "host address port past 65535",
			edits: []string{"- web2=10.0.0.2", "- web2=10.0.0.2:70000"},
			want:  one("web2=", `apps.web.environments.prod.hosts[1]: address "10.0.0.2:70000": want host or host:port, with a port from 1 to 65535`),
		},
		{
			name:  "host address port zero",
			edits: []string{"- web2=10.0.0.2", "- {name: web2, address: '10.0.0.2:0'}"},
			want:  one("web2", `apps.web.environments.prod.hosts[1]: address "10.0.0.2:0": want host or host:port, with a port from 1 to 65535`),
		},
		{
			name:  "host address with two ports",
			edits: []string{"- web2=10.0.0.2", "- web2=10.0.0.2:22:22"},
			want:  one("web2=", `apps.web.environments.prod.hosts[1]: address "10.0.0.2:22:22": want host or host:port`),
		},
		{
			name:  "host address without a host",
			edits: []string{"- web2=10.0.0.2", "- web2=:22"},
			want:  one("web2=", `apps.web.environments.prod.hosts[1]: address ":22": want host or host:port`),
		},
		{
			name:  "host address with a space",
			edits: []string{"- web2=10.0.0.2", "- {name: web2, address: 'web 2'}"},
			want:  one("web2", `apps.web.environments.prod.hosts[1]: address "web 2": want host or host:port`),
		},
		{
			// Written into every error of the host's as is, a mark
			// would pass what it encloses off as the bot's suggestion.
			name:  "host address not in ASCII",
			edits: []string{"- web2=10.0.0.2", "- {name: web2, address: \"web2\\ue000rollback\\ue001\"}"},
			want:  one("web2", `apps.web.environments.prod.hosts[1]: address "web2\ue000rollback\ue001": want host or host:port, with a port from 1 to 65535, in ASCII`),
		},
		{
			name:  "bastion address in Unicode",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, jump: {address: bastiön.example.com}}"},
			want:  one("jump:", `apps.web.environments.prod.ssh.jump.address: "bastiön.example.com": want host or host:port, with a port from 1 to 65535, in ASCII (an international name in its xn-- form)`),
		},
		{
			name:  "bastion address port past 65535",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, jump: {address: 'bastion:65536'}}"},
			want:  one("jump:", `apps.web.environments.prod.ssh.jump.address: "bastion:65536": want host or host:port, with a port from 1 to 65535`),
		},
		{
			name:  "IPv6 host addresses",
			edits: []string{"- web2=10.0.0.2", "- web2=[fd00::2]:2222\n          - web3=fd00::3\n          - {name: web4, address: '[fd00::4]'}\n          - web5=web5.example.com:22"},
		},
		{
			name:  "null host",
			edits: []string{"- web2=10.0.0.2", "- ~"},
			want:  one("- ~", "apps.web.environments.prod.hosts[1]: empty host"),
		},
		{
			name:  "parallel zero",
			edits: []string{"parallel: 10", "parallel: 0"},
			want:  one("parallel", "apps.web.environments.prod.parallel: must be at least 1, got 0"),
		},
		{
			name:  "batch size zero",
			edits: []string{"batch_size: 1", "batch_size: 0"},
			want:  one("batch_size", "apps.web.environments.prod.batch_size: must be at least 1, got 0"),
		},
		{
			name:  "step timeout zero",
			edits: []string{"step_timeout: 5m", "step_timeout: 0s"},
			want:  one("step_timeout", "apps.web.environments.prod.step_timeout: must be more than 0, got 0s"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := edit(t, baseYAML, tt.edits...)
			var wants []want
			if tt.want != nil {
				wants = tt.want(y)
			}
			checkProblems(t, problemsOf(t, y), wants)
		})
	}
}

// one expects a single problem on the line of marker.
func one(marker, msg string) func(y string) []want {
	return func(y string) []want {
		i := strings.Index(y, marker)
		if i < 0 {
			return []want{{-1, "marker " + marker + " not found"}}
		}
		return []want{{strings.Count(y[:i], "\n") + 1, msg}}
	}
}

func TestWholeFileProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{"empty file", "", []want{{0, "the file is empty"}}},
		{"only a comment", "# nothing\n", []want{{0, "the file is empty"}}},
		{"top level list", "- a\n- b\n", []want{{1, "the top level must be a mapping"}}},
		{"no apps key", "bot:\n  name: x\n", []want{{0, "no apps: at least one app is required"}}},
		{"empty apps", "bot:\n  name: x\napps: {}\n", []want{{3, "no apps"}}},
		{"syntax error", "apps:\n  web: [\n", []want{{2, "did not find expected node content"}}},
		{"tab indentation", "apps:\n\tweb: {}\n", []want{{2, "found character that cannot start any token"}}},
		{
			"no environments",
			"apps:\n  web:\n    artifact: {url: 'https://b/{build}'}\n    path: /srv\n    restart: x\n",
			[]want{{2, "apps.web.environments: at least one environment is required"}},
		},
		{
			"null app",
			"apps:\n  web:\n",
			[]want{
				{2, "apps.web.artifact: set url or path"},
				{2, "apps.web.path"},
				{2, "apps.web.restart"},
				{2, "apps.web.environments"},
			},
		},
		{
			"null env",
			"apps:\n  web:\n    artifact: {url: 'https://b/{build}'}\n    path: /srv\n    restart: x\n    environments:\n      prod:\n",
			[]want{{7, "apps.web.environments.prod.hosts: at least one host is required"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problemsOf(t, tt.yaml), tt.want)
		})
	}
}

func TestManyProblemsAtOnce(t *testing.T) {
	const y = `bot:
  log_level: verbose
admins: [ana, ana]
apps:
  Web:
    artifact:
      url: ftp://builds/{app}.tgz
      path: builds/{build}.tgz
    path: srv/web
    keep_releases: 1
    restart: ./restart
    health:
      url: http://{host}/health
      command: ./check
    environments:
      prod:
        transport: local
        parallel: 0
        hosts: [a, b]
      qa:
        transport: ssh
        hosts: [x, x]
`
	_, err := Parse("test.yaml", []byte(y), nil)
	const wantErr = `test.yaml:2: bot.log_level: want debug, info, warn or error, got "verbose"
test.yaml:3: admins[1]: "ana" is listed twice (first at line 3)
test.yaml:5: app name "Web" must start with a lowercase letter and have at most 32 lowercase letters, digits, _ or -
test.yaml:5: apps.Web.default_env: required when an app has more than one environment (prod, qa)
test.yaml:6: apps.Web.artifact: set url or path, not both
test.yaml:7: apps.Web.artifact.url: must contain {build}
test.yaml:7: apps.Web.artifact.url: must be an http:// or https:// URL
test.yaml:9: apps.Web.path: must be absolute (a relative path is only allowed when every env uses the local transport), got "srv/web"
test.yaml:10: apps.Web.keep_releases: must be at least 2 so a rollback has a release to go back to, got 1
test.yaml:12: apps.Web.health: set url or command, not both
test.yaml:18: apps.Web.environments.prod.parallel: must be at least 1, got 0
test.yaml:19: apps.Web.environments.prod.hosts: transport local deploys to this machine and takes one host, got 2
test.yaml:21: apps.Web.environments.qa: transport ssh needs an ssh section (user, key_file or agent, known_hosts)
test.yaml:22: apps.Web.environments.qa.hosts[1]: duplicate host name "x" (first at line 22)`
	if err == nil {
		t.Fatalf("Parse: got no error, want:\n%s", wantErr)
	}
	if got := err.Error(); got != wantErr {
		t.Errorf("Parse error:\ngot:\n%s\nwant:\n%s", got, wantErr)
	}
}

func TestWindowConfig(t *testing.T) {
	y := strings.Replace(baseYAML, "        batch_size: 1\n", `        batch_size: 1
        window:
          timezone: Mars/Olympus
          weekly: ["Mon-Thr 09:00-16:00", "Fri 09:00-12:00"]
          freezes:
            - {from: 2026-12-20, to: 2026-12-01, message: backwards}
            - {from: 2026-12-20, to: 2027-01-03}
`, 1)
	_, err := Parse("test.yaml", []byte(y), nil)
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{
		`window.timezone: unknown time zone "Mars/Olympus"`,
		`window.weekly[0]: unknown day "Thr"`,
		`window.freezes[0]:`,
		`window.freezes[1]: a freeze needs a message saying why`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	good := strings.Replace(baseYAML, "        batch_size: 1\n", `        batch_size: 1
        window:
          timezone: Europe/Warsaw
          weekly: ["Mon-Thu 09:00-16:00"]
          freezes: [{from: 2026-12-20, to: 2027-01-03, message: year-end freeze}]
`, 1)
	c, err := Parse("test.yaml", []byte(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := c.Apps["web"].Envs["prod"].Schedule()
	if err != nil {
		t.Fatal(err)
	}
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	if v := sched.At(time.Date(2026, 11, 23, 10, 0, 0, 0, warsaw)); !v.Open {
		t.Errorf("Monday 10:00: got closed (%s), want open", v.Reason)
	}
	if v := sched.At(time.Date(2026, 12, 21, 10, 0, 0, 0, warsaw)); v.Open || !strings.Contains(v.Reason, "year-end freeze") {
		t.Errorf("in the freeze: got %+v", v)
	}
}

// deployDirApp writes an app of one env, prod, whose line ends with a
// comment naming the app, for the wanted problem's line.
func deployDirApp(name, path, env string) string {
	return "  " + name + ":\n    default_env: prod\n    artifact: {path: 'b/{build}.tgz'}\n    path: " + path + "\n    restart: 'true'\n    environments:\n      prod: # " + name + "\n" + env
}

// deployDirLocal is the env of deployDirApp deploying to this machine.
const deployDirLocal = "        hosts: [localhost]\n"

// deployDirSSH is an env of deployDirApp deploying over ssh to hosts,
// with extra keys of its ssh section.
func deployDirSSH(extra, hosts string) string {
	return "        transport: ssh\n        ssh: {user: deploy, agent: true, known_hosts: /etc/switchman/known_hosts" + extra + "}\n        hosts: [" + hosts + "]\n"
}

// deployDirCase is a config's apps and the problems it has, if any.
type deployDirCase struct {
	name string
	apps string
	want func(y string) []want
}

// checkDeployDirs loads each case's apps and checks its problems.
func checkDeployDirs(t *testing.T, tests []deployDirCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := "apps:\n" + tt.apps
			var w []want
			if tt.want != nil {
				w = tt.want(y)
			}
			checkProblems(t, problemsOf(t, y), w)
		})
	}
}

// TestSharedDeployDir: two envs that deploy into one directory of one
// machine would switch one current and prune each other's releases, each
// under its own lease. The local transport's machine is this one; an ssh
// host's is its address and port, behind its bastion.
func TestSharedDeployDir(t *testing.T) {
	app, local, ssh := deployDirApp, deployDirLocal, deployDirSSH
	abs, err := filepath.Abs("srv/web")
	if err != nil {
		t.Fatal(err)
	}
	tests := []deployDirCase{
		{
			name: "two local envs of one app",
			apps: app("web", "/srv/web", local) + "      staging: # staging\n" + local,
			want: one("staging: # staging", "apps.web.environments.staging: transport local deploys into /srv/web on this machine, as apps.web.environments.prod does"),
		},
		{
			name: "local envs of two apps, one path written two ways",
			apps: app("api", "srv/web/", local) + app("web", abs+"/.", local),
			want: one("prod: # web", "apps.web.environments.prod: transport local deploys into "+abs+" on this machine, as apps.api.environments.prod does"),
		},
		{
			// staging is told of prod, of its own app: a path of its
			// own would not free it.
			name: "local envs of two apps and one app's two envs",
			apps: app("api", "/srv/web", local) + app("web", "/srv/web", local) + "      staging: # staging\n" + local,
			want: func(y string) []want {
				return concat(y,
					one("prod: # web", "apps.web.environments.prod: transport local deploys into /srv/web on this machine, as apps.api.environments.prod does: their deploys would switch and prune each other's releases; give each app its own path"),
					one("staging: # staging", "apps.web.environments.staging: transport local deploys into /srv/web on this machine, as apps.web.environments.prod does: their deploys would switch and prune each other's releases; two envs of one app need two machines"))
			},
		},
		{
			name: "local envs of two apps, two paths",
			apps: app("api", "/srv/api", local) + app("web", "/srv/web", local),
		},
		{
			name: "ssh envs of two apps, one host and path",
			apps: app("api", "/srv/app", ssh("", "api1=10.0.0.1")) + app("web", "/srv/app/", ssh("", "web1=10.0.0.9, web2=10.0.0.1:22")),
			want: one("web2=", "apps.web.environments.prod.hosts[1]: 10.0.0.1:22 is also a host of apps.api.environments.prod, which deploys into the same /srv/app"),
		},
		{
			name: "ssh envs of two apps, one host, address case",
			apps: app("api", "/srv/app", ssh("", "api1=Web1.example.com")) + app("web", "/srv/app", ssh("", "web1.example.com")),
			want: one("[web1.example.com]", "apps.web.environments.prod.hosts[0]: web1.example.com:22 is also a host of apps.api.environments.prod, which deploys into the same /srv/app"),
		},
		{
			name: "one env lists one machine twice",
			apps: app("web", "/srv/web", ssh("", "web1=10.0.0.1, web2=10.0.0.1:22")),
			want: one("web2=", "apps.web.environments.prod.hosts[1]: 10.0.0.1:22 is also hosts[0] of this env: the deploy would run there twice at once"),
		},
		{
			// The transport dials [fd00::11] as fd00::11, on port 22.
			name: "one env lists one IPv6 machine twice, in brackets and not",
			apps: app("web", "/srv/web", ssh("", `"web1=[fd00::11]", "web2=fd00::11"`)),
			want: one("web2=", "apps.web.environments.prod.hosts[1]: [fd00::11]:22 is also hosts[0] of this env: the deploy would run there twice at once"),
		},
		{
			name: "ssh envs of two apps, one IPv6 host written two ways",
			apps: app("api", "/srv/app", ssh("", `"api1=fd00::11"`)) + app("web", "/srv/app", ssh("", `"web1=[FD00:0::11]:22"`)),
			want: one("web1=", "apps.web.environments.prod.hosts[0]: [fd00::11]:22 is also a host of apps.api.environments.prod, which deploys into the same /srv/app"),
		},
		{
			name: "ssh envs of two apps, one host, two paths",
			apps: app("api", "/srv/api", ssh("", "10.0.0.1")) + app("web", "/srv/web", ssh("", "10.0.0.1")),
		},
		{
			name: "ssh envs of two apps, one address, two ports",
			apps: app("api", "/srv/app", ssh("", "10.0.0.1")) + app("web", "/srv/app", ssh(", port: 2222", "10.0.0.1")),
		},
		{
			name: "ssh envs of two apps, one address behind two bastions",
			apps: app("api", "/srv/app", ssh(", jump: {address: 'b1:22'}", "10.0.0.1")) + app("web", "/srv/app", ssh(", jump: {address: 'b2:22'}", "10.0.0.1")),
		},
		{
			name: "ssh envs of two apps, one bastion written two ways",
			apps: app("api", "/srv/app", ssh(", jump: {address: 'B1'}", "10.0.0.1")) + app("web", "/srv/app", ssh(", jump: {address: 'b1:22'}", "web1=10.0.0.1")),
			want: one("web1=", "apps.web.environments.prod.hosts[0]: 10.0.0.1:22 is also a host of apps.api.environments.prod, which deploys into the same /srv/app"),
		},
		{
			// This machine is not the ssh host, whatever their paths.
			name: "a local env and an ssh env of one path",
			apps: app("api", "/srv/app", local) + app("web", "/srv/app", ssh("", "10.0.0.1")),
		},
	}
	checkDeployDirs(t, tests)
}

// TestNestedDeployDir: a deploy directory inside another's, on one
// machine, lies where the outer app's deploys prune releases/, replace
// current and previous and keep shared/: one app could delete or shadow
// the other's files. Any nesting is refused, whichever app is inside,
// with paths compared once cleaned and as whole path elements.
func TestNestedDeployDir(t *testing.T) {
	app, local, ssh := deployDirApp, deployDirLocal, deployDirSSH
	const why = ": an app's deploys prune releases/, replace current and previous and keep shared/ in its directory, and could delete or shadow what a deploy directory inside it holds; give each app a path outside the other's"
	tests := []deployDirCase{
		{
			name: "local, one app inside the other's releases",
			apps: app("api", "/srv/app", local) + app("web", "/srv/app/releases/x", local),
			want: one("prod: # web", "apps.web.environments.prod: transport local deploys into /srv/app/releases/x on this machine, inside /srv/app where apps.api.environments.prod deploys"+why),
		},
		{
			name: "local, one app inside the other's shared",
			apps: app("api", "/srv/app", local) + app("web", "/srv/app/shared/b", local),
			want: one("prod: # web", "apps.web.environments.prod: transport local deploys into /srv/app/shared/b on this machine, inside /srv/app where apps.api.environments.prod deploys"+why),
		},
		{
			name: "local, one app holding the other",
			apps: app("api", "/srv/app", local) + app("web", "/srv", local),
			want: one("prod: # web", "apps.web.environments.prod: transport local deploys into /srv on this machine, which holds /srv/app where apps.api.environments.prod deploys"+why),
		},
		{
			name: "local, paths written unclean",
			apps: app("api", "/srv/app/", local) + app("web", "/srv//app/./releases/../shared/b/", local),
			want: one("prod: # web", "apps.web.environments.prod: transport local deploys into /srv/app/shared/b on this machine, inside /srv/app where apps.api.environments.prod deploys"+why),
		},
		{
			name: "local, one path the prefix of another's name",
			apps: app("api", "/srv/app", local) + app("web", "/srv/application", local),
		},
		{
			// Refused by App.validate; every other path is inside it.
			name: "local, one app at the root",
			apps: app("api", "/", local) + app("web", "/srv/web", local),
			want: one("path: /\n", "apps.api.path: must not be /"),
		},
		{
			name: "ssh, one host, one app inside the other's releases",
			apps: app("api", "/srv/app", ssh("", "api1=10.0.0.1")) + app("web", "/srv/app/releases/x", ssh("", "web1=10.0.0.9, web2=10.0.0.1:22")),
			want: one("web2=", "apps.web.environments.prod.hosts[1]: 10.0.0.1:22 is also a host of apps.api.environments.prod: this env deploys into /srv/app/releases/x there, inside /srv/app where that env deploys"+why),
		},
		{
			name: "ssh, one host, one app holding the other",
			apps: app("api", "/srv/app/shared/b", ssh("", "Web1.example.com")) + app("web", "/srv/app", ssh("", "web1.example.com")),
			want: one("[web1.example.com]", "apps.web.environments.prod.hosts[0]: web1.example.com:22 is also a host of apps.api.environments.prod: this env deploys into /srv/app there, which holds /srv/app/shared/b where that env deploys"+why),
		},
		{
			name: "ssh, one host, one path the prefix of another's name",
			apps: app("api", "/srv/app", ssh("", "10.0.0.1")) + app("web", "/srv/application", ssh("", "10.0.0.1")),
		},
		{
			name: "ssh, one address, two ports",
			apps: app("api", "/srv/app", ssh("", "10.0.0.1")) + app("web", "/srv/app/releases/x", ssh(", port: 2222", "10.0.0.1")),
		},
		{
			name: "ssh, one address behind two bastions",
			apps: app("api", "/srv/app", ssh(", jump: {address: 'b1:22'}", "10.0.0.1")) + app("web", "/srv/app/releases/x", ssh(", jump: {address: 'b2:22'}", "10.0.0.1")),
		},
		{
			name: "ssh, one bastion written two ways",
			apps: app("api", "/srv/app", ssh(", jump: {address: 'B1'}", "10.0.0.1")) + app("web", "/srv/app/releases/x", ssh(", jump: {address: 'b1:22'}", "web1=10.0.0.1")),
			want: one("web1=", "apps.web.environments.prod.hosts[0]: 10.0.0.1:22 is also a host of apps.api.environments.prod: this env deploys into /srv/app/releases/x there, inside /srv/app where that env deploys"+why),
		},
		{
			// This machine is not the ssh host, whatever their paths.
			name: "a local env and an ssh env, nested paths",
			apps: app("api", "/srv/app", local) + app("web", "/srv/app/releases/x", ssh("", "10.0.0.1")),
		},
		{
			// The same directory is refused as such, not again as nested.
			name: "local, one app at another's path and inside a third's",
			apps: app("api", "/srv/app", local) + app("blog", "/srv", local) + app("web", "/srv/app", local),
			want: func(y string) []want {
				return concat(y,
					one("prod: # blog", "apps.blog.environments.prod: transport local deploys into /srv on this machine, which holds /srv/app where apps.api.environments.prod deploys"+why),
					one("prod: # web", "apps.web.environments.prod: transport local deploys into /srv/app on this machine, as apps.api.environments.prod does"))
			},
		},
	}
	checkDeployDirs(t, tests)
}

// TestBotDataInDeployDir: the bot's own files (the embedded store, the
// builds of an artifact.path) in a directory of this machine that a local
// deploy prunes or replaces would be deleted by it: releases/ (a prune
// removes its directories past keep_releases, whatever their names),
// current and previous (links a switch replaces, to releases pruned once
// old). Through current into a shared path of the app's, they are kept,
// as they are in shared/ or beside it.
func TestBotDataInDeployDir(t *testing.T) {
	// app writes an app of one env, prod, whose artifact.path line holds
	// art and whose prod line ends with a comment naming the app.
	app := func(name, art, dir, shared, env string) string {
		return "  " + name + ":\n    default_env: prod\n    artifact: {path: '" + art + "'}\n    path: " + dir + "\n    shared: [" + shared + "]\n    restart: 'true'\n    environments:\n      prod: # " + name + "\n" + env
	}
	const local, builds = deployDirLocal, "/builds/{app}-{build}.tgz"
	store := func(p string) string { return "store:\n  path: " + p + "\n" }
	const releasesWhy = ": releases/ is the deploys': they unpack there and prune every directory past keep_releases, whatever its name; keep the bot's files out of the app's releases/, current and previous (a shared path of the app's, reached through current, is kept)"
	const linkWhy = ": current and previous are links to releases, which a switch replaces and a prune deletes once old; keep the bot's files out of the app's releases/, current and previous (a shared path of the app's, reached through current, is kept)"
	abs, err := filepath.Abs("web")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want func(y string) []want
	}{
		{
			name: "store in a release",
			yaml: store("/srv/web/releases/x/state.db") + "apps:\n" + app("web", builds, "/srv/web", "", local),
			want: one("state.db", "store.path: /srv/web/releases/x/state.db lies in /srv/web/releases, where apps.web.environments.prod deploys on this machine"+releasesWhy),
		},
		{
			name: "store at current",
			yaml: store("/srv/web/current") + "apps:\n" + app("web", builds, "/srv/web", "", local),
			want: one("path: /srv/web/current", "store.path: /srv/web/current lies in /srv/web/current, where apps.web.environments.prod deploys on this machine"+linkWhy),
		},
		{
			name: "store through previous, not a shared path",
			yaml: store("/srv/web/previous/var/state.db") + "apps:\n" + app("web", builds, "/srv/web", "log", local),
			want: one("state.db", "store.path: /srv/web/previous/var/state.db lies in /srv/web/previous, where apps.web.environments.prod deploys on this machine"+linkWhy),
		},
		{
			name: "store, both paths relative to the config file",
			yaml: store("web/./releases/x/state.db") + "apps:\n" + app("web", builds, "web", "", local),
			want: one("state.db", "store.path: "+abs+"/releases/x/state.db lies in "+abs+"/releases, where apps.web.environments.prod deploys on this machine"+releasesWhy),
		},
		{
			name: "store through current into a shared path",
			yaml: store("/srv/web/current/var/db/state.db") + "apps:\n" + app("web", builds, "/srv/web", "var/db", local),
		},
		{
			name: "store in shared",
			yaml: store("/srv/web/shared/state.db") + "apps:\n" + app("web", builds, "/srv/web", "", local),
		},
		{
			name: "store beside the releases",
			yaml: store("/srv/web/state.db") + "apps:\n" + app("web", builds, "/srv/web", "", local),
		},
		{
			name: "store in a directory whose name starts with releases",
			yaml: store("/srv/web/releases-old/state.db") + "apps:\n" + app("web", builds, "/srv/web", "", local),
		},
		{
			name: "store unused: redis",
			yaml: "store:\n  path: /srv/web/releases/x/state.db\n  redis: {url: 'redis://127.0.0.1:6379'}\n" + "apps:\n" + app("web", builds, "/srv/web", "", local),
		},
		{
			// This machine is not the ssh host.
			name: "store in a release of an ssh env",
			yaml: store("/srv/web/releases/x/state.db") + "apps:\n" + app("web", builds, "/srv/web", "", deployDirSSH("", "10.0.0.1")),
		},
		{
			name: "builds in the app's own releases",
			yaml: "apps:\n" + app("web", "/srv/web/releases/{build}.tgz", "/srv/web", "", local),
			want: one("{build}.tgz", "apps.web.artifact.path: /srv/web/releases/{build}.tgz lies in /srv/web/releases, where apps.web.environments.prod deploys on this machine"+releasesWhy),
		},
		{
			name: "builds of one app in another's releases, by {app}",
			yaml: "apps:\n" + app("api", "/srv/web/releases/{app}/{build}.tgz", "/srv/api", "", deployDirSSH("", "10.0.0.1")) + app("web", builds, "/srv/web", "", local),
			want: one("{app}/{build}.tgz", "apps.api.artifact.path: /srv/web/releases/{app}/{build}.tgz lies in /srv/web/releases, where apps.web.environments.prod deploys on this machine"+releasesWhy),
		},
		{
			name: "builds through current, {app} naming the deploy directory",
			yaml: "apps:\n" + app("web", "/srv/{app}/current/builds/{build}.tgz", "/srv/web", "", local),
			want: one("{build}.tgz", "apps.web.artifact.path: /srv/{app}/current/builds/{build}.tgz lies in /srv/web/current, where apps.web.environments.prod deploys on this machine"+linkWhy),
		},
		{
			name: "builds through current into a shared path",
			yaml: "apps:\n" + app("web", "/srv/{app}/current/builds/{build}.tgz", "/srv/web", "builds", local),
		},
		{
			name: "builds in shared",
			yaml: "apps:\n" + app("web", "/srv/web/shared/builds/{build}.tgz", "/srv/web", "", local),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w []want
			if tt.want != nil {
				w = tt.want(tt.yaml)
			}
			checkProblems(t, problemsOf(t, tt.yaml), w)
		})
	}
}

// TestDefaultStoreInRelease: a config shipped in a release of the bot's
// own app (loaded through current) puts the default store, next to it,
// in that release: refused, saying the key was left out.
func TestDefaultStoreInRelease(t *testing.T) {
	y := strings.Replace("apps:\n"+deployDirApp("switchman", "/srv/switchman", deployDirLocal), "b/{build}.tgz", "/builds/{build}.tgz", 1)
	_, err := Parse("/srv/switchman/current/switchman.yaml", []byte(y), nil)
	const want = "/srv/switchman/current/switchman.yaml: store.path (left out: var/switchman.db next to the config file): /srv/switchman/current/var/switchman.db lies in /srv/switchman/current, where apps.switchman.environments.prod deploys on this machine: current and previous are links to releases"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse: got %v, want an error holding %q", err, want)
	}
	shared := strings.Replace(y, "    restart:", "    shared: [var]\n    restart:", 1)
	if _, err := Parse("/srv/switchman/current/switchman.yaml", []byte(shared), nil); err != nil {
		t.Errorf("Parse with var shared: got %v, want no error", err)
	}
}

// TestURLPasswordNotPercentEncoded: a password of an artifact or health
// URL holding an unescaped / ? or # after digits parses, as the port and
// then the path, the query or the fragment (https://ci:1234/5678@host is
// port 1234 of host ci): the deploy would fetch from another host, and
// its messages, which hide only the user info, would show the password.
// It is refused, without quoting the URL.
func TestURLPasswordNotPercentEncoded(t *testing.T) {
	const art = "url: https://builds.example.com/{app}/{build}.tar.gz"
	const health = "url: http://{host}:8000/health"
	const advice = "percent-encode the password"
	tests := []struct {
		name, old, new string
		want           string // the key refused; "": none
	}{
		{"artifact, slash after digits", art, "url: https://ci:9090/s3cret@builds.example.com/{app}/{build}.tar.gz", "apps.web.artifact.url"},
		{"artifact, no user, slash after digits", art, "url: https://:9090/s3cret@builds.example.com/{app}/{build}.tar.gz", "apps.web.artifact.url"},
		{"artifact, question mark after digits", art, "url: 'https://ci:9090?s3cret@builds.example.com/{app}/{build}.tar.gz'", "apps.web.artifact.url"},
		{"health, slash after digits", health, "url: http://mon:9090/s3cret@{host}:8000/health", "apps.web.health.url"},
		{"health, hash after digits", health, "url: 'http://mon:9090#s3cret@{host}:8000/health'", "apps.web.health.url"},
		{"artifact, percent-encoded", art, "url: https://ci:9090%2Fs3cret@builds.example.com/{app}/{build}.tar.gz", ""},
		{"artifact, an @ in the password", art, "url: https://ci:12@34@builds.example.com/{app}/{build}.tar.gz", ""},
		// An @ of the URL's own, with a port and no password.
		{"artifact, a scoped package behind a port", art, "url: https://nexus.example.com:8081/repository/npm/@acme/{app}/-/{app}-{build}.tgz", ""},
		{"health, an @ in a query value", health, "url: 'http://{host}:8000/health?owner=ops@example.com'", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := edit(t, baseYAML, tt.old, tt.new)
			var w []want
			if tt.want != "" {
				w = one(tt.new, tt.want+": "+advice)(y)
			}
			got := problemsOf(t, y)
			checkProblems(t, got, w)
			showsNone(t, got, "a part of the password", "s3cret", "9090")
		})
	}
}

// TestAPIURLPasswordNotPercentEncoded: the chat platforms' and Sentry's
// API URLs get the check of TestURLPasswordNotPercentEncoded. Split, the
// bot would send its token to the host the digits name a port of, and the
// errors naming the URL would show the rest of the password.
func TestAPIURLPasswordNotPercentEncoded(t *testing.T) {
	const advice = "percent-encode the password"
	slack := "slack:\n  signing_secret: s\n  bot_token: xoxb-1\n  api_url: %s\n"
	discord := "discord:\n  public_key: " + strings.Repeat("ab", 32) + "\n  bot_token: t\n  application_id: \"1\"\n  api_url: %s\n"
	sentry := "sentry:\n  org: acme\n  token: t\n  url: %s\n"
	tests := []struct {
		name, section, url string
		want               string // the key refused; "": none
	}{
		{"slack, slash after digits", slack, "https://proxy:9090/s3cret@slack-proxy.example/api/", "slack.api_url"},
		{"slack, hash after digits", slack, "'https://proxy:9090#s3cret@slack-proxy.example/api/'", "slack.api_url"},
		{"slack, percent-encoded", slack, "https://proxy:9090%2Fs3cret@slack-proxy.example/api/", ""},
		{"discord, slash after digits", discord, "https://proxy:9090/s3cret@discord-proxy.example/api/v10", "discord.api_url"},
		{"discord, question mark after digits", discord, "'https://proxy:9090?s3cret@discord-proxy.example/api/v10'", "discord.api_url"},
		{"discord, no user info", discord, "http://127.0.0.1:9/api/v10", ""},
		{"sentry, slash after digits", sentry, "https://proxy:9090/s3cret@sentry.example", "sentry.url"},
		{"sentry, no user, slash after digits", sentry, "https://:9090/s3cret@sentry.example", "sentry.url"},
		{"sentry, a port and a path", sentry, "https://sentry.example:8443/self-hosted", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := baseYAML + fmt.Sprintf(tt.section, tt.url)
			var w []want
			if tt.want != "" {
				w = one(tt.url, tt.want+": "+advice)(y)
			}
			got := problemsOf(t, y)
			checkProblems(t, got, w)
			showsNone(t, got, "a part of the password", "s3cret", "9090")
		})
	}
}

// showsNone fails t for each problem whose message holds one of secrets,
// which it names as what.
func showsNone(t *testing.T, got []Problem, what string, secrets ...string) {
	t.Helper()
	for _, p := range got {
		for _, v := range secrets {
			if strings.Contains(p.Msg, v) {
				t.Errorf("%s shows %s", p, what)
				break
			}
		}
	}
}

// TestNULRefused: a NUL byte, which YAML writes as "\0" in a quoted
// string, is refused in every value, with the key and line and without
// the value: paths, hosts, vars and commands go into the scripts the
// hosts run, and no shell takes one.
func TestNULRefused(t *testing.T) {
	const msg = "holds a NUL byte (\\0), which no shell, file name or URL can carry; remove it"
	tests := []struct {
		name, old, new, marker, key string
	}{
		{"path", "path: /srv/web", `path: "/srv/w\0eb"`, "path: \"/srv", "apps.web.path"},
		{"shared path", "shared: [storage]", `shared: ["stor\0age"]`, "shared:", "apps.web.shared[0]"},
		{"restart", "restart: systemctl restart web", `restart: "systemctl restart web\0; rm -rf /"`, "restart:", "apps.web.restart"},
		{"migrations", "run: ./migrate up", `run: "./migrate\0 up"`, "run: \"./migrate", "apps.web.migrations.run"},
		{"health command", "url: http://{host}:8000/health", `command: "curl -fsS {host}\0:8000"`, "command:", "apps.web.health.command"},
		{"host address", "- web2=10.0.0.2", `- "web2=10.0.0.2\0"`, "- \"web2", "apps.web.environments.prod.hosts[1]"},
		{"host var", "          - web1\n", "          - name: web1\n            vars: {port: \"80\\0\"}\n", "vars:", "apps.web.environments.prod.hosts[0].vars.port"},
		{"hook", "        batch_size: 1\n", "        batch_size: 1\n        hooks: {after_restart: \"notify\\0\"}\n", "hooks:", "apps.web.environments.prod.hooks.after_restart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := edit(t, baseYAML, tt.old, tt.new)
			got := problemsOf(t, y)
			checkProblems(t, got, one(tt.marker, tt.key+": "+msg)(y))
			for _, p := range got {
				if strings.Contains(p.Msg, "\x00") {
					t.Errorf("problem %q: shows the value", p.Msg)
				}
			}
		})
	}
}

// TestSharedPoolServer: two envs whose pools name one HAProxy server for
// hosts of their own (two apps on one fleet behind one backend) would
// each drain and ready it while the other restarts behind it, each under
// its own lease.
func TestSharedPoolServer(t *testing.T) {
	app, ssh := deployDirApp, deployDirSSH
	pool := func(haproxy string) string { return "        pool: {haproxy: {" + haproxy + "}}\n" }
	const hosts = "web1=10.0.0.1, web2=10.0.0.2"
	const sock = "socket: 'unix:/run/haproxy.sock'"
	const why = ": their deploys run at once, each draining and readying that server while the other may be restarting behind it; give each env servers of its own"
	tests := []deployDirCase{
		{
			name: "two apps on one fleet, one backend, server {host}",
			apps: app("web", "/srv/web", ssh("", hosts)+pool(sock+", backend: app")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool("backend: app, "+sock)),
			want: one("backend: app, socket", `apps.worker.environments.prod.pool.haproxy.server: for host web1 it names the server app/web1 of the HAProxy at unix:/run/haproxy.sock, as apps.web.environments.prod does for its host web1`+why+` (a backend of its own, or a server: template such as "worker-{host}")`),
		},
		{
			name: "two apps, one backend, one server through a var and a name",
			apps: app("web", "/srv/web", ssh("", "{name: web1, address: 10.0.0.1, vars: {srv: s1}}")+pool(sock+", via: lb1, backend: app, server: '{srv}'")) +
				app("worker", "/srv/worker", ssh("", "s1=10.0.0.1")+pool("backend: app, via: LB1, "+sock)),
			want: one("backend: app, via", `apps.worker.environments.prod.pool.haproxy.server: for host s1 it names the server app/s1 of the HAProxy at unix:/run/haproxy.sock on LB1, as apps.web.environments.prod does for its host web1`+why+` (a backend of its own, or a server: template such as "worker-{host}")`),
		},
		{
			name: "two apps on one fleet, a backend each",
			apps: app("web", "/srv/web", ssh("", hosts)+pool(sock+", backend: web")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool(sock+", backend: worker")),
		},
		{
			name: "two apps on one fleet, one backend, servers of their own",
			apps: app("web", "/srv/web", ssh("", hosts)+pool(sock+", backend: app, server: 'web-{host}'")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool(sock+", backend: app, server: 'worker-{host}'")),
		},
		{
			name: "two apps, one backend name on two balancers",
			apps: app("web", "/srv/web", ssh("", hosts)+pool(sock+", via: lb1, backend: app")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool(sock+", via: lb2, backend: app")),
		},
	}
	// One HAProxy written two ways is still one: each pair below names
	// one socket, and must be refused as the same server.
	spellings := []struct{ name, first, second, want string }{
		{"unix path with a double slash", "unix:/run/haproxy.sock", "unix:/run//haproxy.sock", "unix:/run//haproxy.sock"},
		{"unix path with a dot", "unix:/run/haproxy/admin.sock", "unix:/run/./haproxy/../haproxy/admin.sock", "unix:/run/./haproxy/../haproxy/admin.sock"},
		{"localhost and 127.0.0.1", "tcp:127.0.0.1:9999", "tcp:localhost:9999", "tcp:localhost:9999"},
		{"localhost and ::1", "tcp:[::1]:9999", "tcp:LocalHost:9999", "tcp:LocalHost:9999"},
		{"127.0.0.1 and ::1", "tcp:127.0.0.1:9999", "tcp:[::1]:9999", "tcp:[::1]:9999"},
		{"IPv4-mapped loopback", "tcp:127.0.0.1:9999", "tcp:[::ffff:127.0.0.1]:9999", "tcp:[::ffff:127.0.0.1]:9999"},
		{"a port with a leading zero", "tcp:10.0.0.5:9999", "tcp:10.0.0.5:09999", "tcp:10.0.0.5:09999"},
		{"IPv6 written two ways", "tcp:[fd00::5]:9999", "tcp:[FD00:0::5]:9999", "tcp:[FD00:0::5]:9999"},
		{"a host name in two cases", "tcp:lb.example:9999", "tcp:LB.example.:9999", "tcp:LB.example.:9999"},
	}
	for _, sp := range spellings {
		tests = append(tests, deployDirCase{
			name: "one socket written two ways: " + sp.name,
			apps: app("web", "/srv/web", ssh("", hosts)+pool("socket: '"+sp.first+"', backend: app")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool("backend: app, socket: '"+sp.second+"'")),
			want: one("backend: app, socket", `apps.worker.environments.prod.pool.haproxy.server: for host web1 it names the server app/web1 of the HAProxy at `+sp.want+`, as apps.web.environments.prod does for its host web1`+why),
		})
	}
	tests = append(tests,
		deployDirCase{
			name: "one via host written two ways",
			apps: app("web", "/srv/web", ssh("", hosts)+pool(sock+", via: '10.0.0.9', backend: app")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool("backend: app, via: '10.0.0.9:22', "+sock)),
			want: one("backend: app, via", `apps.worker.environments.prod.pool.haproxy.server: for host web1 it names the server app/web1 of the HAProxy at unix:/run/haproxy.sock on 10.0.0.9:22, as apps.web.environments.prod does for its host web1`+why),
		},
		deployDirCase{
			name: "two loopback addresses are two balancers",
			apps: app("web", "/srv/web", ssh("", hosts)+pool("socket: 'tcp:127.0.0.1:9999', backend: app")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool("backend: app, socket: 'tcp:127.0.0.2:9999'")),
		},
		deployDirCase{
			name: "two ports are two balancers",
			apps: app("web", "/srv/web", ssh("", hosts)+pool("socket: 'tcp:localhost:9999', backend: app")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool("backend: app, socket: 'tcp:localhost:9998'")),
		},
		deployDirCase{
			name: "two socket files are two balancers",
			apps: app("web", "/srv/web", ssh("", hosts)+pool("socket: 'unix:/run/haproxy.sock', backend: app")) +
				app("worker", "/srv/worker", ssh("", hosts)+pool("backend: app, socket: 'unix:/run/haproxy/haproxy.sock'")),
		},
	)
	checkDeployDirs(t, tests)
}

// TestSharedSentryWatch: a watch counts every error of its Sentry project
// and environment, so auto_rollback where another env reports there too
// would roll this env back for the other's deploy.
func TestSharedSentryWatch(t *testing.T) {
	app, ssh := deployDirApp, deployDirSSH
	const top = "sentry: {org: acme, token: t}\n"
	env := func(sentry string) string { return ssh("", "10.0.0.1") + "        sentry: {" + sentry + "}\n" }
	const why = ": the watch counts the errors of both, and a spike the other's deploy caused would roll this one back by itself; give each env a project or an environment of its own, or leave auto_rollback off (a spike is posted with its new issues and a Rollback button)"
	tests := []deployDirCase{
		{
			name: "two apps in one project, one rolling back by itself",
			apps: app("web", "/srv/web", env("project: acme, auto_rollback: true")) + app("worker", "/srv/worker", env("project: acme")) + top,
			want: one("project: acme, auto_rollback", "apps.web.environments.prod.sentry.auto_rollback: Sentry project acme, environment prod is apps.worker.environments.prod's too"+why),
		},
		{
			name: "two apps in one project, both rolling back by themselves",
			apps: app("web", "/srv/web", env("project: acme, auto_rollback: true")) + app("worker", "/srv/worker", env("auto_rollback: true, project: acme")) + top,
			want: func(y string) []want {
				return concat(y,
					one("project: acme, auto_rollback", "apps.web.environments.prod.sentry.auto_rollback: Sentry project acme, environment prod is apps.worker.environments.prod's too"+why),
					one("auto_rollback: true, project", "apps.worker.environments.prod.sentry.auto_rollback: Sentry project acme, environment prod is apps.web.environments.prod's too"+why))
			},
		},
		{
			name: "one environment, named by one env and defaulted by the other",
			apps: app("web", "/srv/web", env("project: acme, environment: prod, auto_rollback: true")) + app("worker", "/srv/worker", env("project: acme")) + top,
			want: one("project: acme, environment: prod, auto_rollback", "apps.web.environments.prod.sentry.auto_rollback: Sentry project acme, environment prod is apps.worker.environments.prod's too"+why),
		},
		{
			name: "two apps in one project, environments of their own",
			apps: app("web", "/srv/web", env("project: acme, auto_rollback: true")) + app("worker", "/srv/worker", env("project: acme, environment: worker-prod")) + top,
		},
		{
			name: "two apps in one project, neither rolling back by itself",
			apps: app("web", "/srv/web", env("project: acme")) + app("worker", "/srv/worker", env("project: acme")) + top,
		},
		{
			name: "two apps, a project each",
			apps: app("web", "/srv/web", env("project: web, auto_rollback: true")) + app("worker", "/srv/worker", env("project: worker, auto_rollback: true")) + top,
		},
	}
	checkDeployDirs(t, tests)
}

// TestBastionSpellings: one bastion is one, however its address is
// written, as a host's is: the envs through it share its bound of logins
// and the machines behind it.
func TestBastionSpellings(t *testing.T) {
	app, ssh := deployDirApp, deployDirSSH
	tests := []deployDirCase{
		{
			name: "one IPv6 bastion written two ways, one path behind it",
			apps: app("api", "/srv/app", ssh(", jump: {address: 'fd00::1'}", "10.0.0.1")) + app("web", "/srv/app", ssh(", jump: {address: '[FD00:0::1]:022'}", "web1=10.0.0.1")),
			want: one("web1=", "apps.web.environments.prod.hosts[0]: 10.0.0.1:22 is also a host of apps.api.environments.prod, which deploys into the same /srv/app"),
		},
		{
			name: "one IPv4 bastion written two ways, other max_startups",
			apps: app("api", "/srv/api", ssh(", jump: {address: '10.0.0.9'}", "10.0.0.1")) + app("web", "/srv/web", ssh(", jump: {address: '10.0.0.9:0022', max_startups: 4}", "10.0.0.1")),
			want: one("max_startups: 4", "apps.web.environments.prod.ssh.jump.max_startups: 4, but apps.api.environments.prod reaches the bastion 10.0.0.9:22 with 8 (8 when left out): the bound is the bastion's, shared by every env through it; give them the same"),
		},
		{
			name: "two bastions",
			apps: app("api", "/srv/app", ssh(", jump: {address: 'fd00::1'}", "10.0.0.1")) + app("web", "/srv/app", ssh(", jump: {address: '[fd00::2]:22'}", "10.0.0.1")),
		},
	}
	checkDeployDirs(t, tests)
}

// TestTrainDeployTimeout: a train's deploy_timeout is read, and one left
// unset bounds the wait for a car's deploy by the default.
func TestTrainDeployTimeout(t *testing.T) {
	train := "trains:\n  daily:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * 1-5\"\n"
	tests := []struct {
		name, key string
		want      time.Duration
	}{
		{name: "unset", want: DefaultTrainDeployTimeout},
		{name: "set", key: "    deploy_timeout: 2h30m\n", want: 150 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(baseYAML, "users:\n", train+tc.key+"users:\n", 1)
			c, err := Parse("test.yaml", []byte(y), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Trains["daily"].DeployTimeout.D(); got != tc.want {
				t.Errorf("deploy_timeout: got %s, want %s", got, tc.want)
			}
		})
	}
}
