package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/ports"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// The test binary doubles as the bot: with SWITCHMAN_TEST_MAIN set it runs
// main, so a test can start a real bot process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("SWITCHMAN_TEST_MAIN") == "1" {
		if d, err := time.ParseDuration(os.Getenv("SWITCHMAN_TEST_DRAIN_TIMEOUT")); err == nil {
			drainTimeout = d // waiting out 5 minutes would make a slow test
		}
		main()
		return
	}
	code := m.Run()
	if demoArts != "" {
		os.RemoveAll(demoArts) // built once for every test that uses it (newDemo)
	}
	os.Exit(code)
}

// runBot runs the bot in this process with stdin and returns its output.
func runBot(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, stdio{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	t.Logf("bot %s\n--- stdin:\n%s--- stdout:\n%s--- stderr:\n%s", strings.Join(args, " "), stdin, out.String(), errOut.String())
	return out.String() + errOut.String(), err
}

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := ports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// demoFixture builds the real demo artifacts and a config deploying them
// under a temp dir, with the demo app on a free port.
type demoFixture struct {
	dir, cfg, app, addr string
}

var (
	demoOnce sync.Once
	demoArts string
	demoErr  error
)

func newDemo(t *testing.T) *demoFixture {
	t.Helper()
	demoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchman-demo-artifacts")
		if err != nil {
			demoErr = err
			return
		}
		demoArts = dir
		out, err := exec.Command("sh", "../../demo/mkartifacts.sh", dir).CombinedOutput()
		if err != nil {
			demoErr = fmt.Errorf("mkartifacts: %v\n%s", err, out)
		}
	})
	if demoErr != nil {
		t.Fatal(demoErr)
	}
	dir := t.TempDir()
	f := &demoFixture{dir: dir, cfg: filepath.Join(dir, "switchman.yaml"), app: filepath.Join(dir, "demo"), addr: freePort(t)}
	cfg := fmt.Sprintf(`bot:
  console_user: alice
store:
  path: state.db
users:
  alice: {}
  carol: {}
admins: [alice]
apps:
  demo:
    artifact:
      path: %s/demo-{build}.tar.gz
    path: demo
    keep_releases: 3
    restart: DEMO_ADDR=%s sh current/bin/restart
    migrations:
      list: ./bin/migrations pending
      run: ./bin/migrations apply
    health:
      url: http://%s/health
      expect: build={build}
      timeout: 5s
      interval: 100ms
    environments:
      local:
        hosts: [localhost]
`, demoArts, f.addr, f.addr)
	if err := os.WriteFile(f.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd := exec.Command("sh", "current/bin/stop")
		cmd.Dir = f.app
		cmd.Run() // nothing to stop is fine
	})
	return f
}

func (f *demoFixture) health(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + f.addr + "/health")
	if err != nil {
		return "unreachable: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func (f *demoFixture) current(t *testing.T) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(f.app, "current"))
	if err != nil {
		return ""
	}
	return target
}

func TestConsoleDeployRollbackRedeploy(t *testing.T) {
	f := newDemo(t)
	steps := []struct {
		cmds    string
		current string
		health  string
		want    []string // substrings of the output
	}{
		{"deploy demo 1\n", "releases/1", "ok build=1", []string{"pending migrations: 001_create_users", "demo/local now runs 1"}},
		{"deploy demo 2\n", "releases/2", "ok build=2", []string{"pending migrations: 002_add_email", "demo/local now runs 2", "\n  → Roll back to 1: rollback demo local to 1 from 2\n"}},
		{"rollback demo\n", "releases/1", "ok build=1", []string{"Rolling back demo/local from 2 to 1", "demo/local is locked: rolled back from 2"}},
		{"deploy demo 2\n", "releases/1", "ok build=1", []string{"demo/local is locked"}},
		{"unlock deploys demo local\ndeploy demo 2\n", "releases/2", "ok build=2", []string{"Unlocked demo/local", "skipping the download", "demo/local now runs 2", "\n  → Roll back to 1: rollback demo local to 1 from 2\n"}},
		{"deploy demo 3\n", "releases/2", "ok build=2", []string{"broken build=3", "release 3 marked bad", "switched back to 2"}},
	}
	for i, s := range steps {
		out, err := runBot(t, s.cmds, "-config", f.cfg, "console")
		wantErr := i == 3 || i == 5
		if (err != nil) != wantErr {
			t.Fatalf("step %d %q: got error %v, want error %v", i, s.cmds, err, wantErr)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("step %d %q: output lacks %q", i, s.cmds, w)
			}
		}
		if got := f.current(t); got != s.current {
			t.Errorf("step %d: current got %q, want %q", i, got, s.current)
		}
		if got := f.health(t); got != s.health {
			t.Errorf("step %d: health got %q, want %q", i, got, s.health)
		}
	}
	if _, err := os.Stat(filepath.Join(f.app, "releases/.bad-3")); err != nil {
		t.Errorf("build 3 not marked bad: %v", err)
	}
	applied, _ := os.ReadFile(filepath.Join(f.app, "shared/migrations.applied"))
	if got := strings.Fields(string(applied)); strings.Join(got, " ") != "001_create_users 002_add_email" {
		t.Errorf("applied migrations: got %q", got)
	}

	st, err := embedded.Open(filepath.Join(f.dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	recs, err := st.Records(ctx, deploy.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(recs) - 1; i >= 0; i-- {
		got = append(got, fmt.Sprintf("%s %s %s", recs[i].Kind, recs[i].Build, recs[i].Outcome))
	}
	want := "deploy 1 succeeded, deploy 2 succeeded, rollback 1 succeeded, deploy 2 succeeded, deploy 3 reverted"
	if strings.Join(got, ", ") != want {
		t.Errorf("records:\ngot  %s\nwant %s", strings.Join(got, ", "), want)
	}
	entries, err := st.Audit(ctx, audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	// One per command: a pending entry is shown as its outcome.
	entries = audit.Fold(entries)
	var commands, events int
	for _, e := range entries {
		if e.Decision == audit.Event {
			events++
		} else {
			commands++
		}
	}
	if commands != 7 || events != 5 {
		t.Errorf("audit: got %d command and %d event entries, want 7 and 5", commands, events)
	}
}

func TestConsoleExitStatus(t *testing.T) {
	f := newDemo(t)
	tests := []struct {
		stdin string
		code  int
	}{
		{"help\nwhoami\n", 0},
		{"deploy nope 1\n", 1},
		{"deploy nope 1\nstatus\n", 0},
		{"deploy demo 404\n", 1},
	}
	for _, tt := range tests {
		_, err := runBot(t, tt.stdin, "-config", f.cfg, "console")
		code := 0
		var ec exitCode
		if errors.As(err, &ec) {
			code = int(ec)
		} else if err != nil {
			t.Fatalf("%q: %v", tt.stdin, err)
		}
		if code != tt.code {
			t.Errorf("%q: got exit %d, want %d", tt.stdin, code, tt.code)
		}
	}
}

// TestMissingConfig checks that a missing config file nobody named says
// where its name came from and how to name another, and that one named
// with -config or $SWITCHMAN_CONFIG is reported as it is.
func TestMissingConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	const hint = "name one with -config FILE or $SWITCHMAN_CONFIG"
	tests := []struct {
		name     string
		env      string
		args     []string
		want     string
		wantHint bool
	}{
		{"default, check-config", "", []string{"check-config"}, "open switchman.yaml: no such file or directory", true},
		{"default, console", "", []string{"console"}, "open switchman.yaml: no such file or directory", true},
		{"default, audit", "", []string{"audit", "-since", "1h"}, "open switchman.yaml: no such file or directory", true},
		{"-config before the command", "", []string{"-config", missing, "check-config"}, missing + ": no such file or directory", false},
		{"-config after the command", "", []string{"console", "-config", missing}, missing + ": no such file or directory", false},
		{"SWITCHMAN_CONFIG", missing, []string{"check-config"}, missing + ": no such file or directory", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SWITCHMAN_CONFIG", tt.env)
			out, err := runBot(t, "", tt.args...)
			if ec, ok := err.(exitCode); !ok || ec != 1 {
				t.Errorf("exit: got %v, want exit status 1", err)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output: got %q, want it to contain %q", out, tt.want)
			}
			if got := strings.Contains(out, hint); got != tt.wantHint {
				t.Errorf("output %q: got the hint %v, want %v", out, got, tt.wantHint)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apps:\n  web:\n    pth: /srv\n"), 0o644)
	demo, err := os.ReadFile("../../config/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// withRedis is the demo config with store.redis, as the bot would
	// refuse it at start before dialling: check-config refuses it, and
	// shows no password. Nothing listens on port 1.
	withRedis := func(name, redis string) string {
		path := filepath.Join(dir, name+".yaml")
		cfg := strings.Replace(string(demo), "  path: ../var/switchman.db", "  redis:\n"+redis, 1)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	os.WriteFile(filepath.Join(dir, "ca.pem"), nil, 0o644)
	// An SSH key others may read, which OpenSSH would refuse.
	openKey := filepath.Join(dir, "id_open")
	os.WriteFile(openKey, []byte("key"), 0o644)
	os.Chmod(openKey, 0o644)
	sshCfg := filepath.Join(dir, "ssh.yaml")
	os.WriteFile(sshCfg, []byte("apps:\n  web:\n    artifact: {path: 'builds/{build}.tgz'}\n    path: /srv/web\n    restart: ./restart\n"+
		"    environments:\n      prod:\n        transport: ssh\n        ssh: {user: deploy, key_file: id_open, known_hosts: ca.pem}\n        hosts: [web1]\n"), 0o644)
	// A window in Etc/GMT-1, which is an hour ahead of UTC, not behind.
	gmtCfg := filepath.Join(dir, "gmt.yaml")
	os.WriteFile(gmtCfg, []byte("apps:\n  web:\n    artifact: {path: 'builds/{build}.tgz'}\n    path: /srv/web\n    restart: ./restart\n"+
		"    environments:\n      prod:\n        hosts: [localhost]\n        window: {timezone: Etc/GMT-1, weekly: [\"Mon-Fri 09:00-17:00\"]}\n"), 0o644)
	// A window in EST, which is UTC-5 all year, not US Eastern time.
	estCfg := filepath.Join(dir, "est.yaml")
	os.WriteFile(estCfg, []byte("apps:\n  web:\n    artifact: {path: 'builds/{build}.tgz'}\n    path: /srv/web\n    restart: ./restart\n"+
		"    environments:\n      prod:\n        hosts: [localhost]\n        window: {timezone: EST, weekly: [\"Mon-Fri 09:00-17:00\"]}\n"), 0o644)
	// A train written for the first Monday of a month, which cron runs on
	// the first seven days and on every Monday.
	eitherCfg := filepath.Join(dir, "either.yaml")
	os.WriteFile(eitherCfg, []byte("apps:\n  web:\n    artifact: {path: 'builds/{build}.tgz'}\n    path: /srv/web\n    restart: ./restart\n"+
		"    environments:\n      prod:\n        hosts: [localhost]\n"+
		"trains:\n  monthly:\n    env: prod\n    channels: [\"#r\"]\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 1-7 * 1\"\n"), 0o644)
	// A store.path through a file where a directory should be: the
	// bot could not create the store there, which is warned of, as a
	// config is often checked where it does not run.
	os.WriteFile(filepath.Join(dir, "notadir"), nil, 0o600)
	throughFile := filepath.Join(dir, "throughfile.yaml")
	os.WriteFile(throughFile, []byte(strings.Replace(string(demo), "  path: ../var/switchman.db", "  path: notadir/switchman.db", 1)), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"demo", []string{"-config", "../../config/demo.yaml", "check-config"}, 0, "demo"},
		{"store path through a file, warned of", []string{"-config", throughFile, "check-config"}, 0,
			"warning: the bot would not start here: it cannot open (or create) files the config names:\n  store.path: state store " + filepath.Join(dir, "notadir", "switchman.db") + " cannot be created: " + filepath.Join(dir, "notadir") + ", on its way, is a file, not a directory: set store.path to a file in a directory"},
		{"reference", []string{"check-config", "-config", "../../config/reference.yaml"}, 0, "accounting"},
		// Its SSH files are those of a server, not of this machine.
		{"reference, warned of its files", []string{"check-config", "-config", "../../config/reference.yaml"}, 0,
			"apps.accounting.environments.production.ssh.known_hosts: open /etc/switchman/known_hosts: no such file or directory"},
		{"bad", []string{"-config", bad, "check-config"}, 1, "bad.yaml:3"},
		{"redis", []string{"-config", withRedis("redis", "    url: redis://bot:s3cret@127.0.0.1:1/2"), "check-config"}, 0, "redis://REDACTED@127.0.0.1:1/2"},
		{"redis password written in the file, warned of", []string{"-config", withRedis("redisinline", "    url: redis://bot:s3cret@127.0.0.1:1/2"), "check-config"}, 0,
			"not taken from the environment with ${VAR}: anyone who can read the file, a copy or its history has them:\n  " + filepath.Join(dir, "redisinline.yaml") + ":"},
		{"ssh key others may read, warned of", []string{"-config", sshCfg, "check-config"}, 0,
			"OpenSSH would refuse to use: whoever reads one can log in to its hosts:\n  apps.web.environments.prod.ssh.key_file: " + openKey + " may be read by others than its owner (mode 0644): chmod 600 " + openKey},
		{"zone of inverted sign, warned of", []string{"-config", gmtCfg, "check-config"}, 0,
			misleadingZonesWarning + ":\n" +
				"  apps.web.environments.prod.window.timezone: Etc/GMT-1 is UTC+01:00 (POSIX signs are inverted): write it Etc/GMT-1 only if you mean UTC+1; for UTC-1 write Etc/GMT+1"},
		{"train schedule naming both day fields, warned of", []string{"-config", eitherCfg, "check-config"}, 0,
			eitherDaysWarning + ":\n" +
				`  trains.monthly.departure: "0 14 1-7 * 1" names days of the month (1-7) and of the week (1), so it comes on every day that is either, as cron reads it, not only on those that are both: for one of them alone, write * in the other`},
		{"zone without the daylight saving its name suggests, warned of", []string{"-config", estCfg, "check-config"}, 0,
			misleadingZonesWarning + ":\n" +
				"  apps.web.environments.prod.window.timezone: EST is UTC-05:00 all year, without daylight saving: for US Eastern time, which has it, write America/New_York; keep EST only if you mean UTC-5 all year"},
		{"redis database not a number", []string{"-config", withRedis("redisdb", "    url: redis://bot:s3cret@127.0.0.1:1/two"), "check-config"}, 1,
			`store.redis: state store url redis://bot:xxxxx@127.0.0.1:1/two is not valid: redis: invalid database number: "two"`},
		{"redis option unknown", []string{"-config", withRedis("redisopt", "    url: redis://bot:s3cret@127.0.0.1:1/0?max_retrys=2"), "check-config"}, 1,
			"unexpected option: max_retrys"},
		{"redis ca_file without rediss", []string{"-config", withRedis("redisca", "    url: redis://bot:s3cret@127.0.0.1:1/0\n    ca_file: ca.pem"), "check-config"}, 1,
			"a TLS configuration needs a rediss:// url"},
		{"redis skip_verify", []string{"-config", withRedis("redisskip", "    url: rediss://bot:s3cret@127.0.0.1:1/0?skip_verify=true"), "check-config"}, 1,
			"skip_verify turns off the check of the Redis server's certificate"},
		{"redis user without password", []string{"-config", withRedis("redisuser", "    url: redis://s3cretToken@127.0.0.1:1/0"), "check-config"}, 1,
			"has a user name but no password"},
		{"redis read_timeout -1", []string{"-config", withRedis("redistimeout", "    url: redis://bot:s3cret@127.0.0.1:1/0?read_timeout=-1"), "check-config"}, 1,
			"read_timeout must be a positive duration"},
		{"version", []string{"version"}, 0, "switchman"},
		{"unknown command", []string{"frob"}, 2, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runBot(t, "", tt.args...)
			code := 0
			var ec exitCode
			if errors.As(err, &ec) {
				code = int(ec)
			}
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("got exit %d and %q, want exit %d containing %q", code, out, tt.code, tt.want)
			}
			if strings.Contains(out, "s3cret") {
				t.Errorf("output %q shows the password", out)
			}
		})
	}
}

// TestCheckConfigStoreFile: check-config refuses an embedded store file
// that would stop serve and console (an empty one, one anyone may write,
// one that is no store or is cut short, another program's bbolt file),
// in the words the store uses, without opening, changing or creating it;
// a missing one is a first run. What they would warn of, it warns of.
func TestCheckConfigStoreFile(t *testing.T) {
	withMode := func(mode os.FileMode) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			st, err := embedded.Open(path, embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		make  func(t *testing.T, path string) // nil: no file
		code  int
		warns string
	}{
		{"missing", nil, 0, ""},
		{"a store", withMode(0o600), 0, ""},
		{"empty", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 1, ""},
		{"writable by anyone", withMode(0o666), 1, ""},
		{"writable by its group", withMode(0o660), 0, `level=WARN msg="state store writable by its group`},
		{"not a store", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 1, ""},
		{"cut short", func(t *testing.T, path string) {
			withMode(0o600)(t, path)
			if err := os.Truncate(path, 8192); err != nil {
				t.Fatal(err)
			}
		}, 1, ""},
		{"another program's bbolt file", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("meta"))
				if err != nil {
					return err
				}
				return b.Put([]byte("owner"), []byte("billing"))
			})
			if err := errors.Join(err, db.Close()); err != nil {
				t.Fatal(err)
			}
		}, 1, ""},
		{"in use by a running bot", func(t *testing.T, path string) {
			// Its lock is held: check-config neither waits for it
			// nor takes it.
			st, err := embedded.Open(path, embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
		}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "switchman.yaml")
			yaml := "store:\n  path: state.db\nusers:\n  alice: {}\nadmins: [alice]\napps:\n  web:\n" +
				"    artifact:\n      path: artifacts/{app}-{build}.tar.gz\n    path: srv/web\n    restart: 'true'\n" +
				"    health:\n      command: 'true'\n    environments:\n      prod:\n        hosts: [localhost]\n"
			if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			store := filepath.Join(dir, "state.db")
			var before os.FileInfo
			if tt.make != nil {
				tt.make(t, store)
				before, _ = os.Stat(store)
			}
			out, err := runBot(t, "", "-config", cfg, "check-config")
			code := 0
			var ec exitCode
			if errors.As(err, &ec) {
				code = int(ec)
			} else if err != nil {
				code = -1
			}
			if code != tt.code {
				t.Errorf("got exit %d and %q, want exit %d", code, out, tt.code)
			}
			if tt.warns != "" && !strings.Contains(out, tt.warns) || tt.warns == "" && strings.Contains(out, "level=WARN") {
				t.Errorf("got %q, want the warning %q", out, tt.warns)
			}
			if tt.code != 0 {
				// What serve and console would say.
				_, want := embedded.Open(store, embedded.Options{})
				if want == nil || !strings.Contains(out, want.Error()) || strings.Contains(out, ": OK") {
					t.Errorf("got %q, want it to say %v and not OK", out, want)
				}
			}
			after, err := os.Stat(store)
			switch {
			case before == nil && err == nil:
				t.Errorf("check-config created %s", store)
			case before != nil && (err != nil || after.Size() != before.Size() || after.Mode() != before.Mode() || !after.ModTime().Equal(before.ModTime())):
				t.Errorf("check-config changed %s: got %v, want %v", store, after, before)
			}
		})
	}
}

// A bot killed with SIGKILL in the middle of a deploy leaves a record that
// the next start shows as interrupted, with the host state it observes, and
// `current` still points at a complete release.
func TestCrashMidDeploy(t *testing.T) {
	f := newDemo(t)
	if _, err := runBot(t, "deploy demo 1\n", "-config", f.cfg, "console"); err != nil {
		t.Fatal(err)
	}
	// Build 2's restart hangs, holding the deploy in its activation.
	cfg := hangRestartOf2(t, f)

	cmd, _, _, exited := restartingConsole(t, f)
	// Kill the whole group: the bot and the hung restart script.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	os.WriteFile(f.cfg, cfg, 0o644)

	if got := f.current(t); got != "releases/1" && got != "releases/2" {
		t.Fatalf("current after the crash: got %q, want a complete release", got)
	}
	if _, err := os.Stat(filepath.Join(f.app, f.current(t), "BUILD")); err != nil {
		t.Errorf("current does not point at a complete release: %v", err)
	}
	out, err := runBot(t, "status demo\nhistory demo\n", "-config", f.cfg, "console")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"last deploy 2 (from 1) interrupted by alice",
		"stopped before it finished",
		"hosts: localhost on 2",
		"decide: rollback demo local to 1 from 2, or deploy demo BUILD to local",
		"localhost: current 2, previous 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status after the crash lacks %q", want)
		}
	}
	// Deploy 2 ran its migration before its switch: the interrupted
	// message of the next start and status both say so, as a rollback
	// does not undo it.
	if n := strings.Count(out, "migrations: done on localhost (002_add_email): they stay applied, a rollback does not undo them"); n != 2 {
		t.Errorf("the migration's state is said %d times after the crash, want twice (the interrupted message and status):\n%s", n, out)
	}
	// A person decides: roll back.
	out, err = runBot(t, "rollback demo\n", "-config", f.cfg, "console")
	if err != nil || f.current(t) != "releases/1" || f.health(t) != "ok build=1" {
		t.Errorf("rollback after the crash: err %v, current %q, health %q\n%s", err, f.current(t), f.health(t), out)
	}
}

// TestAuditExportOutcomeUnknown: the export has one line per command. A
// lock's pending entry and its outcome are one line, the outcome; the
// pending entry a bot that died mid-command left is a line of unknown
// outcome, not dropped and not exported as pending.
func TestAuditExportOutcomeUnknown(t *testing.T) {
	f := newDemo(t)
	runBot(t, "lock deploys demo db work\n", "-config", f.cfg, "console")
	st, err := embedded.Open(filepath.Join(f.dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	crashed := &audit.Entry{User: "alice", Platform: "console", Channel: "console", Command: "deploy demo 2", Action: "deploy", App: "demo"}
	err = audit.Begin(t.Context(), st, crashed)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := runBot(t, "", "audit", "-config", f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		got = append(got, fmt.Sprintf("%s %s: %s", e.Command, e.Decision, e.Reason))
	}
	want := []string{"lock deploys demo \"db work\" allowed: ", "deploy demo 2 unknown: " + audit.UnknownReason}
	if len(got) != len(want) {
		t.Fatalf("export: got %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("export line %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestAuditExport(t *testing.T) {
	f := newDemo(t)
	runBot(t, "whoami\ndeploy nope 1\n", "-config", f.cfg, "console")
	out, err := runBot(t, "", "audit", "-config", f.cfg, "-since", "1h")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out)
	}
	var first, second audit.Entry
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first.Command != "whoami" || first.Decision != audit.Allowed || second.Decision != audit.Refused || second.Reason == "" {
		t.Errorf("entries: got %+v and %+v", first, second)
	}
	if out, _ := runBot(t, "", "audit", "-config", f.cfg, "-since", "2099-01-01"); strings.TrimSpace(out) != "" {
		t.Errorf("audit since the future: got %q, want nothing", out)
	}
	if _, err := runBot(t, "", "audit", "-config", f.cfg, "-since", "yesterday"); err == nil {
		t.Error("a bad -since was accepted")
	}
	// An app the config does not name (any more) may still have entries:
	// the export runs, with a note saying why it may be empty.
	if out, err := runBot(t, "", "audit", "-config", f.cfg, "-app", "nope"); err != nil || !strings.Contains(out, `bot audit: app "nope" is not in the config (apps: demo)`) {
		t.Errorf("audit -app nope: %v, %q; want a note that it is not in the config", err, out)
	}
}

// TestAuditExportEscapesUnprintable: a refused command is kept as typed,
// control characters and all; the export writes every character that
// does not show as text escaped, so that read in a terminal a C1 CSI does
// not drive it and a direction override does not reorder the line, and a
// JSON reader gets the command back as typed.
func TestAuditExportEscapesUnprintable(t *testing.T) {
	tests := []struct {
		name, typed, raw string
	}{
		{"C1 CSI", "deploy demo \u009b2J1", "\u009b"},
		{"DEL", "deploy demo 1\x7f", "\x7f"},
		{"direction override", "deploy demo \u202e1", "\u202e"},
		{"tag character", "deploy demo 1\U000e0041", "\U000e0041"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDemo(t)
			runBot(t, tt.typed+"\n", "-config", f.cfg, "console")
			out, err := runBot(t, "", "audit", "-config", f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, tt.raw) {
				t.Errorf("export: got %q, want %q escaped", out, tt.raw)
			}
			var e audit.Entry
			if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &e); err != nil {
				t.Fatalf("export %q: %v", out, err)
			}
			if e.Command != tt.typed || e.Decision != audit.Refused {
				t.Errorf("export: got %q %s, want %q refused", e.Command, e.Decision, tt.typed)
			}
		})
	}
}

// TestAuditExportReleasesStore: the export lets the store go once it has
// read the entries, before it writes them: written into a pager, or a
// slow pipe, they would otherwise keep the bot from starting ("in use by
// another Switchman bot") for as long as the reader takes.
func TestAuditExportReleasesStore(t *testing.T) {
	f := newDemo(t)
	runBot(t, "whoami\n", "-config", f.cfg, "console")
	path := filepath.Join(f.dir, "state.db")
	var out bytes.Buffer
	w := &openOnWrite{path: path, out: &out}
	if err := run(context.Background(), []string{"audit", "-config", f.cfg}, stdio{In: strings.NewReader(""), Out: w, Err: io.Discard}); err != nil {
		t.Fatalf("audit: %v", err)
	}
	if !w.tried {
		t.Fatalf("audit wrote nothing: %q", out.String())
	}
	if w.err != nil {
		t.Errorf("opening the store while the export writes: got %v, want it free", w.err)
	}
}

// openOnWrite opens the store at path, as a starting bot does, at its
// first write, and keeps the outcome.
type openOnWrite struct {
	path  string
	out   io.Writer
	tried bool
	err   error
}

func (w *openOnWrite) Write(p []byte) (int, error) {
	if !w.tried {
		w.tried = true
		s, err := embedded.Open(w.path, embedded.Options{})
		if err == nil {
			err = s.Close()
		}
		w.err = err
	}
	return w.out.Write(p)
}

// TestParseSince: -since is a duration before now, in the config's units
// too, or a date read as its midnight UTC, or an RFC 3339 time.
func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time // zero: refused
	}{
		{"24h", now.Add(-24 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"7d", now.AddDate(0, 0, -7)},
		{"2w", now.AddDate(0, 0, -14)},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-01T09:00:00+01:00", time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)},
		{"yesterday", time.Time{}},
		{"0d", time.Time{}},
		{"-1h", time.Time{}},
		{"7", time.Time{}},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		switch {
		case tt.want.IsZero() && err == nil:
			t.Errorf("-since %s: got %s, want it refused", tt.in, got)
		case !tt.want.IsZero() && (err != nil || !got.Equal(tt.want)):
			t.Errorf("-since %s: got %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestAuditExportWithoutStore: an export names a store file that does not
// exist (a wrong -config, a volume not mounted) rather than creating an
// empty one and exporting nothing.
func TestAuditExportWithoutStore(t *testing.T) {
	f := newDemo(t)
	path := filepath.Join(f.dir, "state.db")
	_, err := runBot(t, "", "audit", "-config", f.cfg)
	if want := fmt.Sprintf("state store %s does not exist", path); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("audit without a store: got %v, want an error saying %q", err, want)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state store after the export: got %v, want none created", err)
	}
}

// TestEmptyStoreRefused: a store file cut to nothing stops the bot, and
// the export, naming it and what to do, rather than start on a new store
// without the locks it held.
func TestEmptyStoreRefused(t *testing.T) {
	f := newDemo(t)
	path := filepath.Join(f.dir, "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"console", "-config", f.cfg}, {"audit", "-config", f.cfg}} {
		_, err := runBot(t, "status\n", args...)
		for _, want := range []string{fmt.Sprintf("state store %s is empty", path), "restore it from a backup, or remove it to start a new, empty store"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("bot %s: got %v, want an error saying %q", args[0], err, want)
			}
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("state store after the refusals: got %v, %v; want it left empty", fi, err)
	}
}

// TestStoreFileMode: a store file anyone may write stops the bot, naming
// it and the fix; one its group may write, or others read, is used, and
// said in the log.
func TestStoreFileMode(t *testing.T) {
	f := newDemo(t)
	path := filepath.Join(f.dir, "state.db")
	if _, err := runBot(t, "whoami\n", "console", "-config", f.cfg); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		want string
		err  bool
	}{
		{0o666, fmt.Sprintf("state store %s is writable by anyone (mode 0666)", path), true},
		{0o660, "state store writable by its group", false},
		{0o644, "state store readable by group or others", false},
	} {
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		out, err := runBot(t, "whoami\n", "console", "-config", f.cfg)
		if got := err != nil; got != tc.err {
			t.Errorf("mode %04o: got %v, want an error %v", tc.mode, err, tc.err)
		}
		if err != nil {
			out = err.Error()
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("mode %04o: got %q, want it to say %q", tc.mode, out, tc.want)
		}
	}
}

// TestConsoleTrimsHistory: with store.retention set, the bot deletes what
// is older at start, and says so in the audit trail.
func TestConsoleTrimsHistory(t *testing.T) {
	f := newDemo(t)
	cfg, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte("  path: state.db\n"), []byte("  path: state.db\n  retention:\n    audit: 7d\n"), 1)
	if err := os.WriteFile(f.cfg, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(f.dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, age := range []time.Duration{30 * 24 * time.Hour, 24 * time.Hour} {
		if err := st.AppendAudit(t.Context(), &audit.Entry{Time: time.Now().Add(-age), User: "alice", Command: fmt.Sprintf("status, %s ago", age), Decision: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if _, err := runBot(t, "whoami\n", "-config", f.cfg, "console"); err != nil {
		t.Fatal(err)
	}
	out, err := runBot(t, "", "audit", "-config", f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"command":"whoami"`, `"command":"status, 24h0m0s ago"`, `"command":"retention: deleted 1 audit entry from before `} {
		if !strings.Contains(out, want) {
			t.Errorf("audit after the console ran: want %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, "720h0m0s ago") {
		t.Errorf("audit after the console ran: the entry of 30 days ago is still there:\n%s", out)
	}
}

// TestConsoleUser: the console acts as bot.console_user, else as the OS
// user, unless that is the bot's own name (a service account often is):
// acting as the bot, it would own the bot's locks and deploy through them.
func TestConsoleUser(t *testing.T) {
	tests := []struct {
		name, configured, os string
		want                 string // the user, or a part of the error
		wantErr              bool
	}{
		{"configured", "alice", "switchman", "alice", false},
		{"the OS user", "", "bob", "bob", false},
		{"the OS user is the bot", "", "switchman", `the OS user "switchman" is the bot's own name; set bot.console_user`, true},
		{"in any case", "", "Switchman", `the OS user "Switchman" is the bot's own name`, true},
		{"the OS user of a directory service", "", "ana@corp.example", `the OS user cannot act as it: "ana@corp.example" is not a user name that grant and revoke could name; a user name is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit, e.g. ana; set bot.console_user`, true},
		{"the OS user with a space", "", "Ana Smith", `"Ana Smith" holds a space`, true},
		{"the OS user named as a channel", "", "here", `"here" is what chat platforms notify a whole channel by`, true},
		{"the OS user with a dot", "", "ana.smith", "ana.smith", false},
		{"configured, the OS user of a directory service", "ana", "ana@corp.example", "ana", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := consoleUser(tt.configured, func() string { return tt.os })
			switch {
			case tt.wantErr && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %q, %v, want an error containing %q", got, err, tt.want)
			case !tt.wantErr && (err != nil || got != tt.want):
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

// TestExitStatus: the process exits 0 when a command succeeded, 1 when the
// config is invalid or the bot cannot start, and 2 for a command line it
// does not understand (asking for the usage is understood), as README.md
// says.
func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apps:\n  web:\n    pth: /srv\n"), 0o644)
	demo, err := os.ReadFile("../../config/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A store whose directory cannot be made: /dev/null is a file.
	noStore := filepath.Join(dir, "nostore.yaml")
	os.WriteFile(noStore, []byte(strings.Replace(string(demo), "path: ../var/switchman.db", "path: /dev/null/switchman.db", 1)), 0o644)
	tests := []struct {
		name string
		args []string
		want int
		says string // in the output
	}{
		{"version", []string{"version"}, 0, "switchman"},
		{"invalid config", []string{"-config", bad, "check-config"}, 1, "pth"},
		{"cannot start", []string{"-config", noStore, "console"}, 1, "/dev/null"},
		{"unknown command", []string{"frob"}, 2, "usage: bot"},
		{"unknown flag", []string{"-frob", "version"}, 2, "usage: bot"},
		// Not understood whatever the config: the command line is
		// judged first, also where the config is missing.
		{"bad -since", []string{"-config", filepath.Join(dir, "missing.yaml"), "audit", "-since", "yesterday"}, 2, `-since "yesterday"`},
		{"bad -since, valid config", []string{"-config", noStore, "audit", "-since", "yesterday"}, 2, `-since "yesterday"`},
		// Asking for the usage is understood.
		{"help", []string{"-h"}, 0, "usage: bot"},
		{"long help", []string{"--help"}, 0, "usage: bot"},
		{"command help", []string{"audit", "-help"}, 0, "-since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_MAIN=1")
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.want || !strings.Contains(string(out), tt.says) {
				t.Errorf("bot %s: exit status %d, want %d and an output saying %q; output:\n%s", strings.Join(tt.args, " "), code, tt.want, tt.says, out)
			}
		})
	}
}

// onRedis points the demo's config at the redis-server at url, with a
// lease_ttl of 2s: a bot killed mid-run is found out within seconds.
func (f *demoFixture) onRedis(t *testing.T, url string) {
	t.Helper()
	b, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "store:\n  path: state.db\n", "store:\n  redis:\n    url: "+url+"\n", 1)
	cfg = strings.Replace(cfg, "bot:\n", "bot:\n  lease_ttl: 2s\n", 1)
	if err := os.WriteFile(f.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// killRestarting kills the process group of cmd, a console whose restart
// hangs (the bot and the hung restart script), waits for it to exit and
// puts back the config as it was before the hang (original).
func (f *demoFixture) killRestarting(t *testing.T, cmd *exec.Cmd, exited <-chan error, original []byte) {
	t.Helper()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if err := os.WriteFile(f.cfg, original, 0o644); err != nil {
		t.Fatal(err)
	}
}

// consoleAfter runs a console of the demo until it prints want or until
// deadline, whichever comes first, then types input into it and waits for
// it to end. It returns what it printed on its standard output and error,
// whether want was printed before input was typed, and how it ended.
func (f *demoFixture) consoleAfter(t *testing.T, want string, deadline time.Time, input string) (out, errOut string, seen bool, err error) {
	t.Helper()
	in, stdin := io.Pipe()
	var o, e syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-config", f.cfg, "console"}, stdio{In: in, Out: &o, Err: &e})
	}()
	for !strings.Contains(o.String(), want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	seen = strings.Contains(o.String(), want)
	io.WriteString(stdin, input)
	stdin.Close()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the console did not end with its input")
	}
	return o.String(), e.String(), seen, err
}

// hangRestartOf2 makes the demo's restart of build 2 hang (until a file
// "gate" exists, which no test makes), and returns the config as it was
// before. The restart runs in a process group of its own (the
// local transport's), which outlives a bot killed during it: it leaves its
// group's id ($$, doubled for the config's expansion) to be killed when
// the test ends.
func hangRestartOf2(t *testing.T, f *demoFixture) (original []byte) {
	t.Helper()
	return hangRestartOf(t, f, "2")
}

// hangRestartOf is hangRestartOf2 for the restart of build.
func hangRestartOf(t *testing.T, f *demoFixture, build string) (original []byte) {
	t.Helper()
	gate := filepath.Join(f.dir, "gate")
	group := filepath.Join(f.dir, "restart.pgid")
	original, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	hung := strings.Replace(string(original), "restart: ", "restart: echo $$$$ > "+group+"; while [ \"$SWITCHMAN_BUILD\" = "+build+" ] && [ ! -e "+gate+" ]; do sleep 0.1; done; ", 1)
	if err := os.WriteFile(f.cfg, []byte(hung), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(group); err == nil {
			if pgid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pgid > 1 {
				syscall.Kill(-pgid, syscall.SIGKILL)
			}
		}
	})
	return original
}

// TestStartWarnsOfInvertedZone: a window in Etc/GMT-1, an hour ahead of
// UTC and not behind, is warned of as the bot starts, not only by
// check-config, which a config changed in place may never see.
func TestStartWarnsOfInvertedZone(t *testing.T) {
	f := newDemo(t)
	b, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "      local:\n        hosts: [localhost]\n", "      local:\n        hosts: [localhost]\n        window: {timezone: Etc/GMT-1}\n", 1)
	if err := os.WriteFile(f.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runBot(t, "", "-config", f.cfg, "console")
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	for _, want := range []string{misleadingZonesWarning, "apps.demo.environments.local.window.timezone: Etc/GMT-1 is UTC+01:00 (POSIX signs are inverted)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output: got %q, want it to contain %q", out, want)
		}
	}
}
