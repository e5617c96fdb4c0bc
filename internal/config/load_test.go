package config

import (
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Run `go test ./internal/config -run TestSummary -update` to rewrite the
// golden files under testdata/ after an intended change of the summary.
var update = flag.Bool("update", false, "rewrite golden files")

// minimalYAML is the smallest valid configuration: everything else is
// defaulted.
const minimalYAML = `apps:
  web:
    artifact:
      path: builds/{app}/{build}.tar.gz
    path: /srv/web
    restart: ./restart
    environments:
      prod:
        hosts: [web1]
`

func mustParse(t *testing.T, name, yaml string, env map[string]string) *Config {
	t.Helper()
	c, err := Parse(name, []byte(yaml), mapEnv(env))
	if err != nil {
		t.Fatalf("Parse: got error\n%v\nwant none", err)
	}
	return c
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, "/etc/switchman/switchman.yaml", minimalYAML, nil)
	a, ok := c.App("web")
	if !ok {
		t.Fatalf("App(web): got not found, want found")
	}
	e, ok := a.Env("prod")
	if !ok {
		t.Fatalf("Env(prod): got not found, want found")
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"File", c.File, "/etc/switchman/switchman.yaml"},
		{"Bot.Name", c.Bot.Name, "switchman"},
		{"Bot.Listen", c.Bot.Listen, "127.0.0.1:8080"},
		{"Bot.LogLevel", c.Bot.LogLevel, "info"},
		{"Bot.ConsoleUser", c.Bot.ConsoleUser, ""},
		{"Store.Path", c.Store.Path, "/etc/switchman/var/switchman.db"},
		{"App.Name", a.Name, "web"},
		{"App.DefaultEnv", a.DefaultEnv, "prod"},
		{"App.KeepReleases", a.KeepReleases, 5},
		{"App.Artifact.Path", a.Artifact.Path, "/etc/switchman/builds/{app}/{build}.tar.gz"},
		{"App.Artifact.Checksum", a.Artifact.Checksum, "required"},
		{"App.Artifact.MaxUnpacked", a.Artifact.MaxUnpacked, "20GiB"},
		{"App.Artifact.MaxEntries", a.Artifact.MaxEntries, 1_000_000},
		{"Health.Timeout", a.Health.Timeout, Duration(30 * time.Second)},
		{"Health.Interval", a.Health.Interval, Duration(500 * time.Millisecond)},
		{"Env.Name", e.Name, "prod"},
		{"Env.Transport", e.Transport, "local"},
		{"Env.Parallel", e.Parallel, 10},
		{"Env.BatchSize", e.BatchSize, 1},
		{"Env.StepTimeout", e.StepTimeout, Duration(5 * time.Minute)},
		{"Env.BackupTimeout", e.BackupTimeout, Duration(5 * time.Minute)},
		{"Host", *e.Hosts[0], Host{Name: "web1", Address: "web1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestPathResolution(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		store     string // store.path in the file; "" leaves it out
		artifact  string
		wantStore string
		wantArt   string
	}{
		{"relative to config dir", "/etc/sw/sw.yaml", "", "builds/{app}/{build}.tgz", "/etc/sw/var/switchman.db", "/etc/sw/builds/{app}/{build}.tgz"},
		{"absolute stays", "/etc/sw/sw.yaml", "/var/lib/sw/state.db", "/srv/builds/{build}.tgz", "/var/lib/sw/state.db", "/srv/builds/{build}.tgz"},
		{"absolute is cleaned", "/etc/sw/sw.yaml", "/var/lib//sw/./state.db", "/srv/builds/../b/{build}.tgz", "/var/lib/sw/state.db", "/srv/b/{build}.tgz"},
		{"parent of config dir", "/etc/sw/sw.yaml", "../state/sw.db", "../builds/{build}.tgz", "/etc/state/sw.db", "/etc/builds/{build}.tgz"},
		{"relative config file", "conf/sw.yaml", "", "./builds/{build}.tgz", "conf/var/switchman.db", "conf/builds/{build}.tgz"},
		{"config in working dir", "sw.yaml", "state.db", "'{app}/{build}.tgz'", "state.db", "{app}/{build}.tgz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(minimalYAML, "builds/{app}/{build}.tar.gz", tt.artifact, 1)
			if tt.store != "" {
				y = "store:\n  path: " + tt.store + "\n" + y
			}
			c := mustParse(t, tt.file, y, nil)
			if c.Store.Path != tt.wantStore {
				t.Errorf("Store.Path: got %q, want %q", c.Store.Path, tt.wantStore)
			}
			if got := c.Apps["web"].Artifact.Path; got != tt.wantArt {
				t.Errorf("Artifact.Path: got %q, want %q", got, tt.wantArt)
			}
		})
	}
}

func TestValidConfigs(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "base",
			yaml: baseYAML,
			check: func(t *testing.T, c *Config) {
				hosts := c.Apps["web"].Envs["prod"].Hosts
				want := []*Host{{Name: "web1", Address: "web1"}, {Name: "web2", Address: "10.0.0.2"}}
				if !reflect.DeepEqual(hosts, want) {
					t.Errorf("hosts: got %+v, want %+v", hosts, want)
				}
				if got, want := c.Users["ana"].Slack, "U1"; got != want {
					t.Errorf("users.ana.slack: got %q, want %q", got, want)
				}
			},
		},
		{
			name: "host mapping with vars",
			yaml: strings.Replace(minimalYAML, "hosts: [web1]", "transport: ssh\n        ssh: {user: deploy, agent: true, known_hosts: known_hosts}\n        hosts:\n          - name: web1\n            address: 10.0.0.1:2222\n            vars: {port: '8000'}", 1),
			check: func(t *testing.T, c *Config) {
				got := *c.Apps["web"].Envs["prod"].Hosts[0]
				want := Host{Name: "web1", Address: "10.0.0.1:2222", Vars: map[string]string{"port": "8000"}}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("host: got %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "anchors and merge keys",
			yaml: `apps:
  web:
    artifact: {url: 'https://b.example/{build}.tgz'}
    path: /srv/web
    restart: ./restart
    default_env: prod
    environments:
      prod: &ssh
        transport: ssh
        ssh: {user: deploy, agent: true, known_hosts: known_hosts}
        parallel: 3
        hosts: [web1, web2]
      qa:
        <<: *ssh
        hosts: [qa1]
`,
			check: func(t *testing.T, c *Config) {
				qa := c.Apps["web"].Envs["qa"]
				if qa.Transport != "ssh" || qa.Parallel != 3 || len(qa.Hosts) != 1 {
					t.Errorf("qa: got transport %q, parallel %d, %d hosts; want ssh, 3, 1", qa.Transport, qa.Parallel, len(qa.Hosts))
				}
			},
		},
		{
			name: "ssh keep_warm default",
			yaml: strings.Replace(minimalYAML, "hosts: [web1]", "transport: ssh\n        ssh: {user: deploy, agent: true, known_hosts: known_hosts}\n        hosts: [web1]", 1),
			check: func(t *testing.T, c *Config) {
				if got, want := c.Apps["web"].Envs["prod"].SSH.KeepWarm.D(), 10*time.Minute; got != want {
					t.Errorf("keep_warm: got %v, want %v", got, want)
				}
			},
		},
		{
			name: "ssh jump max_startups default",
			yaml: strings.Replace(minimalYAML, "hosts: [web1]", "transport: ssh\n        ssh: {user: deploy, agent: true, known_hosts: known_hosts, jump: {address: bastion}}\n        hosts: [web1]", 1),
			check: func(t *testing.T, c *Config) {
				j := c.Apps["web"].Envs["prod"].SSH.Jump
				if j.MaxStartups != 8 || j.HostPort() != "bastion:22" {
					t.Errorf("jump: got max_startups %d at %s, want 8 at bastion:22", j.MaxStartups, j.HostPort())
				}
			},
		},
		{
			name: "ssh keep_warm 0s is off",
			yaml: strings.Replace(minimalYAML, "hosts: [web1]", "transport: ssh\n        ssh: {user: deploy, agent: true, known_hosts: known_hosts, keep_warm: 0s}\n        hosts: [web1]", 1),
			check: func(t *testing.T, c *Config) {
				if got := c.Apps["web"].Envs["prod"].SSH.KeepWarm.D(); got != 0 {
					t.Errorf("keep_warm: got %v, want 0 (off)", got)
				}
			},
		},
		{
			name: "backup_timeout",
			yaml: strings.Replace(minimalYAML, "hosts: [web1]", "hosts: [web1]\n        step_timeout: 5m\n        backup_timeout: 2h", 1),
			check: func(t *testing.T, c *Config) {
				e := c.Apps["web"].Envs["prod"]
				if got, want := e.BackupTimeout.D(), 2*time.Hour; got != want {
					t.Errorf("backup_timeout: got %v, want %v", got, want)
				}
				if got, want := e.StepTimeout.D(), 5*time.Minute; got != want {
					t.Errorf("step_timeout: got %v, want %v", got, want)
				}
			},
		},
		{
			name: "durations",
			yaml: strings.Replace(minimalYAML, "hosts: [web1]", "hosts: [web1]\n        step_timeout: 1h30m", 1) + "    health:\n      command: ./check\n      timeout: 2m\n      interval: 250ms\n",
			check: func(t *testing.T, c *Config) {
				a := c.Apps["web"]
				if got, want := a.Envs["prod"].StepTimeout.D(), 90*time.Minute; got != want {
					t.Errorf("step_timeout: got %v, want %v", got, want)
				}
				// Left out, the backup keeps step_timeout's bound.
				if got, want := a.Envs["prod"].BackupTimeout.D(), 90*time.Minute; got != want {
					t.Errorf("backup_timeout: got %v, want %v", got, want)
				}
				if got, want := a.Health.Timeout.D(), 2*time.Minute; got != want {
					t.Errorf("health.timeout: got %v, want %v", got, want)
				}
				if got, want := a.Health.Interval.D(), 250*time.Millisecond; got != want {
					t.Errorf("health.interval: got %v, want %v", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, "test.yaml", tt.yaml, nil))
		})
	}
}

func TestStrictDecoding(t *testing.T) {
	tests := []struct {
		name  string
		edits []string // applied to baseYAML
		want  func(y string) []want
	}{
		{
			name:  "misspelt key with suggestion",
			edits: []string{"keep_releases:", "keep_release:"},
			want:  one("keep_release:", `unknown key "keep_release" in apps.web; did you mean "keep_releases"?`),
		},
		{
			name:  "transposed letters",
			edits: []string{"    environments:", "    enviornments:"},
			want: func(y string) []want {
				// The envs are not decoded, so the app has none.
				return concat(y,
					one("  web:", "apps.web.environments: at least one environment is required"),
					one("enviornments", `unknown key "enviornments" in apps.web; did you mean "environments"?`))
			},
		},
		{
			name:  "abbreviation",
			edits: []string{"- web2=10.0.0.2", "- {name: web2, addr: 10.0.0.2}"},
			want:  one("addr:", `unknown key "addr" in apps.web.environments.prod.hosts[1]; did you mean "address"?`),
		},
		{
			name:  "top level",
			edits: []string{"bot:", "bots:"},
			want:  one("bots:", `unknown key "bots" in the top level; did you mean "bot"?`),
		},
		{
			name:  "no close key lists the known ones",
			edits: []string{"    restart:", "    notify: x\n    restart:"},
			want:  one("notify", `unknown key "notify" in apps.web (known keys: artifact, default_env, delivery, environments, health, keep_releases, migrations, path, recompress, restart, shared)`),
		},
		{
			name:  "keys are case-sensitive",
			edits: []string{"    restart:", "    Restart:"},
			want: func(y string) []want {
				return concat(y,
					one("  web:", "apps.web.restart: the command run after switching releases is required"),
					one("Restart:", `unknown key "Restart" in apps.web; did you mean "restart"?`))
			},
		},
		{
			name:  "all unknown keys at once",
			edits: []string{"  name: switchman", "  nmae: switchman", "shared:", "shard:", "batch_size:", "batchsize:"},
			want: func(y string) []want {
				return concat(y,
					one("nmae", `unknown key "nmae" in bot; did you mean "name"?`),
					one("shard", `unknown key "shard" in apps.web; did you mean "shared"?`),
					one("batchsize", `unknown key "batchsize" in apps.web.environments.prod; did you mean "batch_size"?`))
			},
		},
		{
			name:  "duplicate key",
			edits: []string{"    restart: systemctl restart web\n", "    restart: systemctl restart web\n    restart: again\n"},
			want:  one("restart: again", `apps.web: key "restart" appears twice (first at line 18)`),
		},
		{
			name:  "not a number",
			edits: []string{"parallel: 10", "parallel: ten"},
			want:  one("parallel", `apps.web.environments.prod.parallel: want a whole number, got "ten"`),
		},
		{
			name:  "a quoted boolean",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", `known_hosts: /etc/switchman/known_hosts, agent: "true"}`},
			want:  one("ssh: {", `apps.web.environments.prod.ssh.agent: want true or false, got "true"`),
		},
		{
			name:  "a number for a boolean",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, agent: 1}"},
			want:  one("ssh: {", `apps.web.environments.prod.ssh.agent: want true or false, got "1"`),
		},
		{
			name:  "a list for a boolean",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, agent: [true]}"},
			want:  one("ssh: {", "apps.web.environments.prod.ssh.agent: want true or false, got a list"),
		},
		{
			name:  "yes is a boolean, as YAML 1.1 has it",
			edits: []string{"known_hosts: /etc/switchman/known_hosts}", "known_hosts: /etc/switchman/known_hosts, agent: yes}"},
			want:  func(string) []want { return nil },
		},
		{
			name: "a quoted number",
			edits: []string{"users:\n", "sentry: {org: acme, token: t}\nusers:\n",
				"        step_timeout: 5m\n", "        step_timeout: 5m\n        sentry: {project: web, factor: \"3\"}\n"},
			want: one("sentry: {project", `apps.web.environments.prod.sentry.factor: want a number, got "3"`),
		},
		{
			name:  "fraction",
			edits: []string{"keep_releases: 5", "keep_releases: 2.5"},
			want:  one("keep_releases", `apps.web.keep_releases: want a whole number, got "2.5"`),
		},
		{
			name:  "string instead of list",
			edits: []string{"hosts: [localhost]", "hosts: localhost"},
			want:  one("hosts: localhost", "apps.web.environments.staging.hosts: want a list, got a string"),
		},
		{
			name:  "string instead of mapping",
			edits: []string{"    artifact:\n      url: https://builds.example.com/{app}/{build}.tar.gz\n", "    artifact: https://builds.example.com/{build}\n"},
			want:  one("artifact:", "apps.web.artifact: want a mapping of keys to values, got a string"),
		},
		{
			name:  "list instead of string",
			edits: []string{"restart: systemctl restart web", "restart: [a, b]"},
			want:  one("restart", "apps.web.restart: want a string, got a list"),
		},
		{
			name:  "bad duration",
			edits: []string{"step_timeout: 5m", "step_timeout: 5 minutes"},
			want:  one("step_timeout", `apps.web.environments.prod.step_timeout: invalid duration "5 minutes": want a number with a unit, like 30s, 5m, 1h30m or 7d`),
		},
		{
			name:  "duration without unit",
			edits: []string{"timeout: 30s", "timeout: 30"},
			want:  one("timeout: 30", `apps.web.health.timeout: invalid duration "30"`),
		},
		{
			name:  "duration as a list",
			edits: []string{"interval: 500ms", "interval: [1s]"},
			want:  one("interval", "apps.web.health.interval: want a duration like 30s, 5m or 1h30m"),
		},
		{
			name:  "host with empty address",
			edits: []string{"- web2=10.0.0.2", "- web2="},
			want:  one("web2=", `apps.web.environments.prod.hosts[1]: host "web2" has an empty address after =`),
		},
		{
			name:  "host as a list",
			edits: []string{"- web2=10.0.0.2", "- [web2]"},
			want:  one("[web2]", "apps.web.environments.prod.hosts[1]: want a mapping of keys to values, got a list"),
		},
		{
			name:  "vars must be strings",
			edits: []string{"- web2=10.0.0.2", "- {name: web2, vars: {port: [1]}}"},
			want:  one("vars", "apps.web.environments.prod.hosts[1].vars.port: want a string, got a list"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := edit(t, baseYAML, tt.edits...)
			checkProblems(t, problemsOf(t, y), tt.want(y))
		})
	}
}

func concat(y string, fs ...func(string) []want) []want {
	var all []want
	for _, f := range fs {
		all = append(all, f(y)...)
	}
	return all
}

func TestExpansion(t *testing.T) {
	// An env's hook is a free string, convenient to test with (a slack or
	// discord ID must be one of the platform's, a user name follows the
	// user name rule).
	const tmpl = "users:\n  ana:\n    slack: U1\n" + minimalYAML + "        hooks:\n          before_restart: %s\n"
	tests := []struct {
		name  string
		value string // written as the env's hooks.before_restart
		env   map[string]string
		want  string
	}{
		{"set", "${SLACK}", map[string]string{"SLACK": "U1"}, "U1"},
		{"inside text", "id-${SLACK}-x", map[string]string{"SLACK": "U1"}, "id-U1-x"},
		{"two variables", "${A}${B}", map[string]string{"A": "1", "B": "2"}, "12"},
		{"default when unset", "${SLACK:-U9}", nil, "U9"},
		{"default when empty", "${SLACK:-U9}", map[string]string{"SLACK": ""}, "U9"},
		{"empty default", "${SLACK:-}", nil, ""},
		{"set beats default", "${SLACK:-U9}", map[string]string{"SLACK": "U1"}, "U1"},
		{"set to empty", "${SLACK}", map[string]string{"SLACK": ""}, ""},
		{"default with colon", "${URL:-http://x:80/}", nil, "http://x:80/"},
		{"dollar dollar", "$${SLACK}", map[string]string{"SLACK": "U1"}, "${SLACK}"},
		{"dollar dollar dollar", "a$$$$b", nil, "a$$b"},
		{"lone dollar", "$HOME and $", nil, "$HOME and $"},
		{"YAML specials stay one string", "${SECRET}", map[string]string{"SECRET": "a: b # c, [d] {e} 'f' \"g\""}, "a: b # c, [d] {e} 'f' \"g\""},
		{"newline stays one string", "${SECRET}", map[string]string{"SECRET": "x\nadmins: [mallory]"}, "x\nadmins: [mallory]"},
		{"looks like null", "${SECRET}", map[string]string{"SECRET": "null"}, "null"},
		{"looks like a number", "${SECRET}", map[string]string{"SECRET": "0123"}, "0123"},
		{"looks like a date", "${SECRET}", map[string]string{"SECRET": "2024-01-02"}, "2024-01-02"},
		{"quoted", "'${SLACK}'", map[string]string{"SLACK": "U1"}, "U1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(tmpl, "%s", tt.value, 1)
			c := mustParse(t, "test.yaml", y, tt.env)
			if got := c.Apps["web"].Envs["prod"].Hooks.BeforeRestart; got != tt.want {
				t.Errorf("value: got %q, want %q", got, tt.want)
			}
			if _, ok := c.Users["ana"]; !ok || len(c.Admins) != 0 {
				t.Errorf("structure changed: got users %v, admins %v", c.Users, c.Admins)
			}
		})
	}
}

func TestExpansionTyped(t *testing.T) {
	y := strings.Replace(minimalYAML, "hosts: [web1]", "hosts: [web1]\n        parallel: ${PAR:-4}\n        step_timeout: ${STEP}", 1)
	c := mustParse(t, "test.yaml", y, map[string]string{"STEP": "90s"})
	e := c.Apps["web"].Envs["prod"]
	if e.Parallel != 4 {
		t.Errorf("parallel: got %d, want 4", e.Parallel)
	}
	if got, want := e.StepTimeout.D(), 90*time.Second; got != want {
		t.Errorf("step_timeout: got %v, want %v", got, want)
	}
}

func TestExpansionNotInKeys(t *testing.T) {
	// Left as written, the key is no user name grant could name, and is
	// refused as such rather than read as the user ana.
	y := "users:\n  ${WHO}:\n    slack: U1\n" + minimalYAML
	_, err := Parse("test.yaml", []byte(y), mapEnv(map[string]string{"WHO": "ana"}))
	if want := `users: "${WHO}" is not a user name`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse: got error %v, want one containing %s (the key unexpanded)", err, want)
	}
}

func TestExpansionErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{
			name: "unset",
			yaml: "users:\n  ana:\n    slack: ${SLACK_ID}\n" + minimalYAML,
			want: []want{{3, "environment variable SLACK_ID is not set (write ${SLACK_ID:-default} to give a default)"}},
		},
		{
			name: "unset twice on one line",
			yaml: "users:\n  ana:\n    slack: ${A}${B}\n" + minimalYAML,
			want: []want{{3, "variable A is not set"}, {3, "variable B is not set"}},
		},
		{
			name: "unset in a literal block",
			yaml: strings.Replace(minimalYAML, "restart: ./restart", "restart: |\n      cd /srv\n      ./restart --token ${TOKEN}", 1),
			want: []want{{8, "variable TOKEN is not set"}},
		},
		{
			name: "unset in a required value is reported once",
			yaml: strings.Replace(minimalYAML, "restart: ./restart", "restart: ${RESTART}", 1),
			want: []want{{6, "variable RESTART is not set"}},
		},
		{
			name: "unterminated",
			yaml: "users:\n  ana:\n    slack: ${SLACK\n" + minimalYAML,
			want: []want{{3, "unterminated ${ (write $$ for a literal $)"}},
		},
		{
			name: "invalid name",
			yaml: "users:\n  ana:\n    slack: ${1X}\n" + minimalYAML,
			want: []want{{3, "invalid variable name in ${1X}"}},
		},
		{
			name: "shell syntax is not supported",
			yaml: "users:\n  ana:\n    slack: ${X-default}\n" + minimalYAML,
			want: []want{{3, "invalid variable name in ${X-default}"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problemsOf(t, tt.yaml), tt.want)
		})
	}
}

func TestExpandLeavesNoSecretInMessages(t *testing.T) {
	y := strings.Replace(minimalYAML, "path: builds/{app}/{build}.tar.gz", "url: ftp://u:${PASS}@b/{build}", 1)
	_, err := Parse("test.yaml", []byte(y), mapEnv(map[string]string{"PASS": "hunter2"}))
	if err == nil {
		t.Fatalf("Parse: got no error, want one for the ftp URL")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error: got %q, want it without the secret", err)
	}
}

func TestReference(t *testing.T) {
	c, err := Parse("../../config/reference.yaml", mustRead(t, "../../config/reference.yaml"), nil)
	if err != nil {
		t.Fatalf("reference.yaml: got error\n%v\nwant none", err)
	}
	if got, want := c.AppNames(), []string{"accounting", "blog"}; !reflect.DeepEqual(got, want) {
		t.Errorf("apps: got %v, want %v", got, want)
	}
	transports := map[string]bool{}
	for _, a := range c.Apps {
		for _, e := range a.Envs {
			transports[e.Transport] = true
		}
	}
	if !transports["local"] || !transports["ssh"] {
		t.Errorf("transports: got %v, want local and ssh", transports)
	}
	// Every key the loader knows appears in the reference.
	text := string(mustRead(t, "../../config/reference.yaml"))
	for _, key := range allKeys(reflect.TypeFor[Config]()) {
		if !strings.Contains(text, key+":") {
			t.Errorf("reference.yaml: key %q is not documented", key)
		}
	}
}

// TestReferenceInImage loads the reference config as the container image
// runs it, with the image's environment, from the directory the image
// copies it to: the store must land in the one directory the image's user
// may write, and bot.listen must be reachable from outside the container.
func TestReferenceInImage(t *testing.T) {
	dockerfile := string(mustRead(t, "../../Dockerfile"))
	const stateDir = "/var/lib/switchman"
	if !strings.Contains(dockerfile, "-o switchman -g switchman -m 0750 "+stateDir+"\n") {
		t.Fatalf("Dockerfile: want it to make %s the bot user's directory", stateDir)
	}
	env := map[string]string{}
	for _, line := range strings.Split(dockerfile, "\n") {
		if kv, ok := strings.CutPrefix(line, "ENV "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	c, err := Parse("/etc/switchman/reference.yaml", mustRead(t, "../../config/reference.yaml"), mapEnv(env))
	if err != nil {
		t.Fatalf("reference.yaml with the image's environment %v: got error\n%v\nwant none", env, err)
	}
	if dir := filepath.Dir(c.Store.Path); dir != stateDir {
		t.Errorf("store.path: got %s, in %s; want a file in %s, the only directory the image's user may write", c.Store.Path, dir, stateDir)
	}
	if c.Bot.Listen != "0.0.0.0:8080" {
		t.Errorf("bot.listen: got %s, want 0.0.0.0:8080, the port the image exposes", c.Bot.Listen)
	}
}

// TestImageCopiesNoLocalFiles: the image's last stage takes the binary from
// the build stage and, from the build context, the reference config only.
// A directory copied whole (config/) would ship whatever an operator left
// in the checkout beside it, their own switchman.yaml with its tokens or
// an SSH key, to everyone who pulls the image.
func TestImageCopiesNoLocalFiles(t *testing.T) {
	lines := strings.Split(string(mustRead(t, "../../Dockerfile")), "\n")
	last := -1
	for i, line := range lines {
		if strings.HasPrefix(line, "FROM ") {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("Dockerfile: got no FROM, want a build stage and the image's")
	}
	allowed := map[string]bool{"config/reference.yaml /etc/switchman/reference.yaml": true}
	copies := 0
	for i, line := range lines[last:] {
		args, ok := strings.CutPrefix(line, "COPY ")
		if !ok || strings.HasPrefix(args, "--from=build ") {
			continue
		}
		copies++
		if !allowed[args] {
			t.Errorf("Dockerfile:%d: got COPY %s into the image, want only %v from the build context", last+i+1, args, slices.Collect(maps.Keys(allowed)))
		}
	}
	if copies == 0 {
		t.Error("Dockerfile: got no COPY of the reference config into the image, want it at /etc/switchman/reference.yaml")
	}
}

// allKeys returns every YAML key of t and the types under it.
func allKeys(t reflect.Type) []string {
	var keys []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for name, ft := range yamlFields(t) {
			keys = append(keys, name)
			walk(ft)
		}
	}
	walk(t)
	return keys
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "switchman.yaml")
	y := strings.Replace(minimalYAML, "./restart", "${SWITCHMAN_TEST_RESTART}", 1)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("environment", func(t *testing.T) {
		t.Setenv("SWITCHMAN_TEST_RESTART", "systemctl restart web")
		c, err := Load(path)
		if err != nil {
			t.Fatalf("Load: got error %v, want none", err)
		}
		if got, want := c.Apps["web"].Restart, "systemctl restart web"; got != want {
			t.Errorf("restart: got %q, want %q", got, want)
		}
		if got, want := c.Store.Path, filepath.Join(dir, "var", "switchman.db"); got != want {
			t.Errorf("store: got %q, want %q", got, want)
		}
	})
	t.Run("unset variable", func(t *testing.T) {
		_, err := Load(path)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Load: got %v, want an *Error", err)
		}
		if want := path + ":6: environment variable SWITCHMAN_TEST_RESTART is not set"; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Load: got %q, want it to start with %q", err, want)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "nope.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Load: got %v, want an error wrapping os.ErrNotExist", err)
		}
	})
}

func TestLookups(t *testing.T) {
	c := mustParse(t, "test.yaml", baseYAML+`  api:
    artifact: {url: 'https://b.example/{build}'}
    path: /srv/api
    restart: ./restart
    environments:
      prod: {hosts: [api1]}
`, nil)
	if got, want := c.AppNames(), []string{"api", "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AppNames: got %v, want %v", got, want)
	}
	web, ok := c.App("web")
	if !ok || web.Name != "web" {
		t.Fatalf("App(web): got %v, %v, want the web app", web, ok)
	}
	if _, ok := c.App("nope"); ok {
		t.Errorf("App(nope): got found, want not found")
	}
	if got, want := web.EnvNames(), []string{"prod", "staging"}; !reflect.DeepEqual(got, want) {
		t.Errorf("EnvNames: got %v, want %v", got, want)
	}
	if e, ok := web.Env("staging"); !ok || e.Name != "staging" {
		t.Errorf("Env(staging): got %v, %v, want the staging env", e, ok)
	}
	if _, ok := web.Env("nope"); ok {
		t.Errorf("Env(nope): got found, want not found")
	}
}

func TestSummary(t *testing.T) {
	y := strings.Replace(baseYAML, "https://builds.example.com/", "https://ci:${CI_TOKEN}@builds.example.com/", 1)
	c := mustParse(t, "/etc/switchman/switchman.yaml", y+`  api:
    artifact: {path: 'builds/{build}.tgz', checksum: optional}
    path: /srv/api
    restart: ./restart
    health: {command: ./check}
    environments:
      prod: {hosts: [api1]}
`, map[string]string{"CI_TOKEN": "s3cret"})
	c.Store.Retention = Retention{Records: Duration(400 * 24 * time.Hour), Audit: Duration(36 * time.Hour)}
	got := c.Summary()
	if strings.Contains(got, "s3cret") {
		t.Errorf("Summary: got the secret in\n%s", got)
	}
	golden := filepath.Join("testdata", "summary.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := string(mustRead(t, golden)); got != want {
		t.Errorf("Summary:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestRelativeDeployPath(t *testing.T) {
	dir := t.TempDir()
	y := strings.Replace(minimalYAML, "path: /srv/web", "path: var/web", 1)
	c := mustParse(t, filepath.Join(dir, "sw.yaml"), y, nil)
	if got, want := c.Apps["web"].Path, filepath.Join(dir, "var/web"); got != want {
		t.Errorf("local app path: got %q, want %q", got, want)
	}

	ssh := strings.Replace(y, "hosts: [web1]", "transport: ssh\n        hosts: [web1]", 1)
	_, err := Parse(filepath.Join(dir, "sw.yaml"), []byte(ssh), nil)
	if err == nil || !strings.Contains(err.Error(), "apps.web.path: must be absolute") {
		t.Errorf("ssh app with relative path: got %v, want a must-be-absolute problem", err)
	}
}

func TestHAProxyDefaults(t *testing.T) {
	for _, tc := range []struct {
		pool         string
		drain, ready time.Duration
	}{
		{"{haproxy: {socket: 'unix:/run/haproxy.sock', backend: web}}", 30 * time.Second, 10 * time.Second},
		{"{haproxy: {socket: 'unix:/run/haproxy.sock', backend: web, drain_timeout: 2m, ready_timeout: 45s}}", 2 * time.Minute, 45 * time.Second},
	} {
		y := strings.Replace(minimalYAML, "hosts: [web1]", "hosts: [web1]\n        pool: "+tc.pool, 1)
		c := mustParse(t, "/etc/switchman/switchman.yaml", y, nil)
		a, _ := c.App("web")
		e, _ := a.Env("prod")
		if e.Pool == nil || e.Pool.HAProxy == nil {
			t.Fatalf("%s: no pool parsed from\n%s", tc.pool, y)
		}
		if h := e.Pool.HAProxy; h.DrainTimeout.D() != tc.drain || h.ReadyTimeout.D() != tc.ready {
			t.Errorf("%s: drain %s, ready %s; want %s, %s", tc.pool, h.DrainTimeout.D(), h.ReadyTimeout.D(), tc.drain, tc.ready)
		}
	}
	// Written as 0 they are refused, not read as the defaults.
	for _, pool := range []string{
		"{haproxy: {socket: 'unix:/run/haproxy.sock', backend: web, drain_timeout: 0s}}",
		"{haproxy: {socket: 'unix:/run/haproxy.sock', backend: web, ready_timeout: 0s}}",
		"{haproxy: {socket: 'unix:/run/haproxy.sock', backend: web, ready_timeout: -5s}}",
	} {
		y := strings.Replace(minimalYAML, "hosts: [web1]", "hosts: [web1]\n        pool: "+pool, 1)
		_, err := Parse("c.yaml", []byte(y), nil)
		if err == nil || !strings.Contains(err.Error(), "must be more than 0") || !strings.Contains(err.Error(), "leave it out for the default") {
			t.Errorf("%s: got %v, want a refusal", pool, err)
		}
	}
}

// TestConfigPitfalls: mistakes that decoded into a weaker setup without a
// word are refused.
func TestConfigPitfalls(t *testing.T) {
	const app = `apps:
  web:
    artifact:
      path: builds/{app}/{build}.tar.gz
    path: /srv/web
    restart: ./restart
    default_env: staging
    environments:
      staging:
        hosts: [web1]
        window: &win
          timezone: Europe/Warsaw
          weekly: ["Mon-Thu 09:00-16:00"]
`
	const sshProd = "      prod:\n        transport: ssh\n        ssh: {user: deploy, agent: true, known_hosts: known_hosts}\n        hosts: [web2]\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"a window merged into an env, not under window:",
			app + "      prod:\n        hosts: [web2]\n        <<: *win\n",
			"unknown key"},
		{"an empty redis section",
			"store:\n  redis:\n    # url: ${REDIS_URL}\n" + app,
			"store.redis: empty"},
		// Other sections, emptied the same way, would turn off what they
		// guard: the window, the load balancer's drain, the bastion, the
		// error watch, the migrations.
		{"an empty window", app + sshProd + "        window:\n          # weekly: [\"Mon-Fri 09:00-17:00\"]\n",
			"c.yaml:18: apps.web.environments.prod.window: empty"},
		{"an empty haproxy section", app + sshProd + "        pool:\n          haproxy:\n            # socket: unix:/run/haproxy.sock\n",
			"c.yaml:19: apps.web.environments.prod.pool.haproxy: empty"},
		{"an empty pool", app + sshProd + "        pool:\n",
			"c.yaml:18: apps.web.environments.prod.pool: empty"},
		{"an empty jump", app + "      prod:\n        transport: ssh\n        ssh:\n          user: deploy\n          agent: true\n          known_hosts: known_hosts\n          jump:\n        hosts: [web2]\n",
			"c.yaml:20: apps.web.environments.prod.ssh.jump: empty"},
		{"an empty env sentry", "sentry: {org: acme, token: t0ken}\n" + app + sshProd + "        sentry:\n",
			"c.yaml:19: apps.web.environments.prod.sentry: empty"},
		{"empty migrations", strings.Replace(app, "    restart: ./restart\n", "    restart: ./restart\n    migrations:\n      # list: ./pending\n", 1),
			"c.yaml:7: apps.web.migrations: empty"},
		{"an empty health check", strings.Replace(app, "    restart: ./restart\n", "    restart: ./restart\n    health:\n      # url: http://{host}:8080/health\n", 1),
			"c.yaml:7: apps.web.health: empty"},
		{"a zero lease", "bot:\n  lease_ttl: 0s\n" + app, "bot.lease_ttl: 0s is too short"},
		{"a tiny lease", "bot:\n  lease_ttl: 500ms\n" + app, "bot.lease_ttl: 500ms is too short"},
		{"records kept for minutes", "store:\n  retention:\n    records: 30m\n" + app, "c.yaml:3: store.retention.records: 30m0s is too short: at least 1d"},
		{"audit kept for less than a day", "store:\n  retention:\n    audit: 23h\n" + app, "store.retention.audit: 23h0m0s is too short"},
		{"a negative retention", "store:\n  retention:\n    audit: -1h\n" + app, "store.retention.audit: -1h0m0s is too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	// A merge of the right kind is fine.
	ok := app + "      prod:\n        transport: ssh\n        ssh: {user: deploy, agent: true, known_hosts: known_hosts}\n        hosts: [web2]\n        window:\n          <<: *win\n          weekly: [\"Mon-Fri 08:00-18:00\"]\n"
	c, err := Parse("c.yaml", []byte(ok), nil)
	if err != nil {
		t.Fatalf("a window merged under window: %v", err)
	}
	if w := c.Apps["web"].Envs["prod"].Window; w == nil || w.Timezone != "Europe/Warsaw" || len(w.Weekly) != 1 || w.Weekly[0] != "Mon-Fri 08:00-18:00" {
		t.Errorf("merged window: %+v, want Warsaw's time zone and prod's own weekly", w)
	}
}

// TestRedisURLNotPercentEncoded: a Redis password holding a / ? or # that
// was not percent-encoded makes a URL that net/url reads in part as the
// port, the path, the query or the fragment. check-config refuses it
// without showing it, rather than say OK and print the password in its
// summary, as the user info it hides ends before it.
func TestRedisURLNotPercentEncoded(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		secrets   []string
	}{
		{"slash", "redis://:s3cr/et-Pa55@redis.internal:6379/0", []string{"s3cr", "et-Pa55"}},
		{"slash after digits", "redis://:4242/s3cret@redis.internal:6379/0", []string{"4242", "s3cret"}},
		{"question mark", "redis://:4242?s3cret@redis.internal:6379/0", []string{"4242", "s3cret"}},
		{"hash", "redis://:4242#s3cret@redis.internal:6379/0", []string{"4242", "s3cret"}},
		// The rest reads as an option of the query, but not as the one
		// whose value may hold an @.
		{"question mark, then an option", "redis://:4242?s3=cret@redis.internal:6379/0", []string{"4242", "s3=cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte("store:\n  redis:\n    url: ${REDIS_URL}\n"+minimalYAML),
				func(k string) (string, bool) { return tc.url, k == "REDIS_URL" })
			shown := ""
			switch {
			case err == nil:
				shown = c.Summary()
				t.Errorf("Parse: got no error, want store.redis.url refused; summary:\n%s", shown)
			case !strings.Contains(err.Error(), "c.yaml:3: store.redis.url: not a valid URL"):
				t.Errorf("Parse: got %v, want store.redis.url refused as not a valid URL", err)
				fallthrough
			default:
				shown = err.Error()
			}
			for _, s := range tc.secrets {
				if strings.Contains(shown, s) {
					t.Errorf("shows %q, a part of the password: %s", s, shown)
				}
			}
		})
	}
	// Percent-encoded, the same passwords are fine; an @ needs no escape.
	for _, pass := range []string{"s3cr%2Fet", "42%3Fs3cret", "42%23s3cret", "s3c@ret"} {
		u := "redis://:" + pass + "@redis.internal:6379/0"
		if _, err := Parse("c.yaml", []byte("store:\n  redis:\n    url: "+u+"\n"+minimalYAML), nil); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	// A query may hold an @ of its own, in client_name: the one option
	// of text (the others are numbers, durations and booleans).
	for _, u := range []string{
		"redis://redis.internal:6379/0?client_name=deploy@switchman",
		"redis://:s3c@ret@redis.internal:6379/0?client_name=deploy@switchman&max_retries=2",
		"redis://redis.internal:6379/0?max_retries=2&client_name=a@b@c",
	} {
		if _, err := Parse("c.yaml", []byte("store:\n  redis:\n    url: "+u+"\n"+minimalYAML), nil); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestRedisURLInvalidSaysWhy: a Redis URL that does not parse is refused
// with advice that fits it: a password holding any character net/url
// refuses in user info (a ^ or a space as much as a / ? or #) must be
// percent-encoded, and a URL without user info, which holds no password,
// is refused with what is wrong in it rather than advice about a password
// it does not have. A port no connection can reach is refused as well,
// without the password.
func TestRedisURLInvalidSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		want      string
		secrets   []string
	}{
		{"caret in the password", "redis://:s3c^ret@redis.internal:6379/0",
			"such as / ? # % ^ or a space", []string{"s3c", "ret"}},
		{"space in the password", "redis://:s3c ret@redis.internal:6379/0",
			"such as / ? # % ^ or a space", []string{"s3c", "ret"}},
		{"bar in the password", "redis://default:s3c|ret@redis.internal:6379/0",
			"such as / ? # % ^ or a space", []string{"s3c", "ret"}},
		{"bad port, no password", "redis://redis.internal:6379x/0",
			`store.redis.url: not a valid URL: invalid port ":6379x" after host`, nil},
		{"port out of range", "redis://:s3cret99@redis.internal:637900/0",
			"store.redis.url: its port is not a TCP port (1 to 65535)", []string{"s3cret99"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte("store:\n  redis:\n    url: ${REDIS_URL}\n"+minimalYAML),
				func(k string) (string, bool) { return tc.url, k == "REDIS_URL" })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: got %v, want it to say %q", err, tc.want)
			}
			if tc.secrets == nil && strings.Contains(err.Error(), "password") {
				t.Errorf("Parse: got %v, want no word of a password the URL does not have", err)
			}
			for _, s := range tc.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("shows %q, a part of the password: %v", s, err)
				}
			}
		})
	}
}

// TestSummaryStore checks that check-config names the store the bot will
// open: with store.redis set, the embedded file is never used, and naming
// it would have an operator believe each replica keeps its own state.
func TestSummaryStore(t *testing.T) {
	tests := []struct {
		name    string
		store   string
		env     map[string]string
		want    string
		secrets []string
	}{
		{
			name:  "embedded",
			store: "store:\n  path: state/bot.db\n",
			want:  "store: /etc/switchman/state/bot.db\n",
		},
		{
			name:    "redis",
			store:   "store:\n  redis:\n    url: ${REDIS_URL}\n",
			env:     map[string]string{"REDIS_URL": "redis://:hunter2@redis.internal:6379/2"},
			want:    "store: redis redis://REDACTED@redis.internal:6379/2\n",
			secrets: []string{"hunter2"},
		},
		{
			name:  "redis with a prefix and a CA, and a path left over",
			store: "store:\n  path: var/old.db\n  redis:\n    url: rediss://r.internal:6380\n    prefix: \"team-a:\"\n    ca_file: ca.pem\n",
			want:  "store: redis rediss://r.internal:6380, key prefix \"team-a:\", CA /etc/switchman/ca.pem\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, "/etc/switchman/switchman.yaml", tt.store+minimalYAML, tt.env)
			var got string
			for line := range strings.Lines(c.Summary()) {
				if strings.HasPrefix(line, "store:") {
					got = line
				}
			}
			if got != tt.want {
				t.Errorf("store line: got %q, want %q", got, tt.want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(c.Summary(), s) {
					t.Errorf("summary: got the secret %q in\n%s", s, c.Summary())
				}
			}
		})
	}
}

// TestSecondDocument: the bot reads one YAML document, so a second one
// (after a ---: two files joined, a section set apart) is refused with its
// line rather than dropped without a word, with the admins, access
// entries or windows it holds. A --- before the only document, or one
// that ends the file, leaves nothing out.
func TestSecondDocument(t *testing.T) {
	tests := []struct {
		name, yaml, want string // want "" for a valid config
	}{
		{"a second document", minimalYAML + "---\nadmins: [mallory]\n", "c.yaml:11: a second YAML document (after ---): the bot reads one; put its keys in the first"},
		{"a third one too", minimalYAML + "---\nadmins: [mallory]\n---\nusers: {}\n", "c.yaml:11: a second YAML document"},
		{"a second document that does not parse", minimalYAML + "---\nadmins: [mallory\n", "c.yaml: a second YAML document"},
		{"a --- before the only document", "---\n" + minimalYAML, ""},
		{"a --- ending the file", minimalYAML + "---\n", ""},
		{"a ... ending the document", minimalYAML + "...\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.yaml), nil)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want the config valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
