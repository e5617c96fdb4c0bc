package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestManyDeploysLeaveNoGoroutines runs one bot process (`bot serve`, with
// Slack) through many deploys, rollbacks, unlocks and status reads of an
// SSH fleet, as a bot running for months does. Once the first cycle has
// left a connection kept warm to every host, the goroutines of each
// further cycle (sessions, progress publishers, lease renewals, timers,
// keepalives) end with it; and once the bot stops, none of its own is
// left. It counts the goroutines of the whole test process, so it runs
// alone (not in parallel).
func TestManyDeploysLeaveNoGoroutines(t *testing.T) {
	const hosts, cycles = 4, 6
	fleet := sshd.StartFleet(t, hosts, sshd.Options{})
	api := newSlackAPI(t)
	// Every call on a connection of its own, so that how many the
	// bot's client keeps idle does not count.
	api.srv.Config.SetKeepAlivesEnabled(false)
	dir, addr := t.TempDir(), freePort(t)
	for b := 1; b <= cycles; b++ {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", fmt.Sprintf("web-%d.tar.gz", b)), tarballOf(t, fmt.Sprint(b)))
	}
	var y strings.Builder
	fmt.Fprintf(&y, "bot:\n  listen: %s\nstore:\n  path: state.db\nusers:\n  bob: {slack: UBOB}\nadmins: [bob]\n", addr)
	fmt.Fprintf(&y, "slack:\n  signing_secret: leak-secret\n  bot_token: xoxb-test\n  api_url: %s\n", api.srv.URL+"/api/")
	fmt.Fprintf(&y, "apps:\n  web:\n    artifact: {path: 'artifacts/{app}-{build}.tar.gz'}\n    path: /srv/web\n    restart: 'true'\n")
	fmt.Fprintf(&y, "    health: {command: 'test -f current/BUILD', timeout: 10s, interval: 100ms}\n    environments:\n      prod:\n        transport: ssh\n")
	fmt.Fprintf(&y, "        ssh: {user: %s, key_file: %q, known_hosts: %q}\n        parallel: %d\n        batch_size: %d\n        hosts:\n", fleet.User, fleet.ClientKey, fleet.KnownHosts, hosts, hosts)
	for _, h := range fleet.Hosts {
		fmt.Fprintf(&y, "          - %s=%s\n", h.Name, h.Addr)
	}
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	before := runtime.NumGoroutine()
	bot := serveBot(t, cfg, addr)
	sent := 0
	// command sends a slash command as bob and waits for a call to Slack,
	// after those made so far, whose text holds want: the final progress
	// message of a deploy or rollback, the reply to another command.
	command := func(slash, text, want string) {
		t.Helper()
		sent++
		seen := len(api.calls())
		body := url.Values{"command": {slash}, "text": {text}, "user_id": {"UBOB"}, "channel_id": {"C1"}, "trigger_id": {fmt.Sprint("T", sent)}}.Encode()
		resp := postSlash(t, bot.base, "leak-secret", body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: got %s", slash, text, resp.Status)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			for _, c := range api.calls()[seen:] {
				if strings.Contains(c, want) {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: nothing saying %q within a minute; calls:\n%s\nlog:\n%s", slash, text, want, strings.Join(api.calls(), "\n"), bot.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cycle := func(b int) {
		command("/deploy", fmt.Sprintf("web %d", b), fmt.Sprintf("web/prod now runs %d (", b))
		if b > 1 {
			command("/rollback", "web", "✔ Rollback ")
			command("/unlock", "deploys web prod", "Unlocked web/prod")
		}
		command("/status", "web", "Status")
		// The test's own connections to the bot.
		http.DefaultClient.CloseIdleConnections()
	}

	cycle(1)
	cycle(2)
	// Every host has a connection kept warm now: the count the cycles
	// to come must come back to, once what each started has ended.
	steady := settle(t, 0, 2*time.Second)
	for b := 3; b <= cycles; b++ {
		cycle(b)
		if n := settle(t, steady, 30*time.Second); n > steady {
			t.Fatalf("after %d cycles: %d goroutines, want at most %d as after 2", b, n, steady)
		}
	}
	if err := bot.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	if n := settle(t, before, 30*time.Second); n > before {
		t.Errorf("after the bot stopped: %d goroutines, want at most %d as before it started", n, before)
	}
}

// settle polls the number of goroutines until it is at most want or
// within passes, and returns the last count. With want 0 it returns the
// least count seen within.
func settle(t *testing.T, want int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	least := runtime.NumGoroutine()
	for {
		n := runtime.NumGoroutine()
		least = min(least, n)
		switch {
		case want > 0 && n <= want:
			return n
		case time.Now().After(deadline):
			if want == 0 {
				return least
			}
			buf := make([]byte, 1<<20)
			t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}
