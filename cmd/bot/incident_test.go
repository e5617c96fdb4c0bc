package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

const incidentSecret = "incident-secret"

// incident is one bot (`bot serve`, Slack over HTTP) deploying web to a
// fleet of real sshd hosts, with a Sentry stand-in whose error count
// jumps once the release of build 2 is created.
type incident struct {
	t      *testing.T
	bot    *served
	slack  *fakeSlackAPI
	sentry *spikingSentry
	fleet  *sshd.Fleet
	seq    atomic.Int64
}

func newIncident(t *testing.T) *incident {
	t.Helper()
	in := &incident{t: t, fleet: sshd.StartFleet(t, 3, sshd.Options{}), slack: newFakeSlackAPI(t), sentry: newSpikingSentry(t)}
	dir, addr := t.TempDir(), freePort(t)
	for _, b := range []string{"1", "2", "3"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tarballOf(t, b))
	}
	var y strings.Builder
	fmt.Fprintf(&y, "bot:\n  listen: %s\nstore:\n  path: state.db\nusers:\n  ana: {slack: UANA}\n  bob: {slack: UBOB}\nadmins: [ana]\ndeployers: [bob]\n", addr)
	fmt.Fprintf(&y, "slack:\n  signing_secret: %s\n  bot_token: xoxb-test\n  api_url: %s\n", incidentSecret, in.slack.apiURL())
	fmt.Fprintf(&y, "sentry:\n  url: %s\n  org: acme\n  token: sntrys-test\n  webhook_secret: %s\n", in.sentry.srv.URL, incidentSecret)
	fmt.Fprintf(&y, "apps:\n  web:\n    artifact: {path: 'artifacts/{app}-{build}.tar.gz'}\n    path: /srv/web\n    restart: 'true'\n")
	fmt.Fprintf(&y, "    health: {command: 'test -f current/BUILD', timeout: 10s, interval: 100ms}\n    environments:\n      prod:\n        transport: ssh\n        channel: CPROD\n")
	fmt.Fprintf(&y, "        sentry: {project: web, interval: 1s, consecutive: 1, watch: 20s}\n")
	fmt.Fprintf(&y, "        ssh: {user: %s, key_file: %q, known_hosts: %q}\n        hosts:\n", in.fleet.User, in.fleet.ClientKey, in.fleet.KnownHosts)
	for _, h := range in.fleet.Hosts {
		fmt.Fprintf(&y, "          - %s=%s\n", h.Name, h.Addr)
	}
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	in.bot = serveBot(t, cfg, addr)
	return in
}

// post sends body to path, signed as Slack signs it now.
func (in *incident) post(path, body string) {
	in.t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, in.bot.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.Sign(incidentSecret, ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		in.t.Fatalf("POST %s: got %s, want 200", path, resp.Status)
	}
}

// alert sends body to the Sentry webhook as an event alert, signed, and
// returns how many Slack calls were recorded before it.
func (in *incident) alert(body []byte) int {
	in.t.Helper()
	seen := len(in.slack.snapshot())
	sendEventAlert(in.t, in.bot.base, body)
	return seen
}

// sendEventAlert posts body to the Sentry webhook of the bot at base as
// an event alert, signed as Sentry signs it.
func sendEventAlert(t *testing.T, base string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/sentry/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sentry.ResourceHeader, sentry.ResourceEventAlert)
	req.Header.Set(sentry.SignatureHeader, hmacHex(incidentSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /sentry/webhook: got %s, want 204", resp.Status)
	}
}

// slash types /command text as user in C1 and returns how many Slack
// calls were recorded before it.
func (in *incident) slash(user, command, text string) int {
	in.t.Helper()
	seen := len(in.slack.snapshot())
	n := in.seq.Add(1)
	trigger := fmt.Sprint("T", n)
	in.post("/slack/commands", url.Values{"command": {command}, "text": {text}, "user_id": {user}, "channel_id": {"C1"},
		"trigger_id": {trigger}, "response_url": {in.slack.responseURL(trigger)}}.Encode())
	return seen
}

// click clicks the button of call c whose label holds label, as user.
func (in *incident) click(user string, c slackCall, label string) (value string, seen int) {
	in.t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Text     struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(c.Blocks), &blocks); err != nil {
		in.t.Fatalf("blocks of %q: %v", c.Text, err)
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if strings.Contains(e.Text.Text, label) {
				seen = len(in.slack.snapshot())
				n := in.seq.Add(1)
				payload := fmt.Sprintf(`{"type":"block_actions","trigger_id":"T%d","user":{"id":%q,"username":"x"},"channel":{"id":%q},"container":{"type":"message","channel_id":%q},"response_url":%q,"actions":[{"type":"button","action_id":%q,"block_id":"switchman_actions","value":%q,"action_ts":"1700000000.1"}]}`,
					n, user, c.Channel, c.Channel, in.slack.responseURL(fmt.Sprint("T", n)), e.ActionID, e.Value)
				in.post("/slack/interactions", url.Values{"payload": {payload}}.Encode())
				return e.Value, seen
			}
		}
	}
	in.t.Fatalf("no button %q in %q; blocks %s", label, c.Text, c.Blocks)
	return "", 0
}

// wait waits for a call after the first seen whose text holds want.
func (in *incident) wait(seen int, want string) slackCall {
	in.t.Helper()
	return waitFor(in.t, in.slack.snapshot, func(c slackCall) string { return c.Text }, seen, want,
		func(calls []slackCall) string { return describeCalls(calls) + "\nlog:\n" + in.bot.stderr.String() })
}

// waitFor waits up to a minute for an item of snapshot, after the first
// seen, whose text holds want, and returns it; failing, it tells the items
// after seen as describe puts them.
func waitFor[T any](t *testing.T, snapshot func() []T, text func(T) string, seen int, want string, describe func([]T) string) T {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		items := snapshot()
		for _, it := range items[seen:] {
			if strings.Contains(text(it), want) {
				return it
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing saying %q within a minute; seen:\n%s", want, describe(items[seen:]))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fleetRuns checks that every host of fleet runs build want of web.
func fleetRuns(t *testing.T, fleet *sshd.Fleet, want string) {
	t.Helper()
	for _, h := range fleet.Hosts {
		got, err := os.ReadFile(filepath.Join(h.Root, "web", "current", "BUILD"))
		if err != nil {
			got = []byte("error: " + err.Error())
		}
		if string(got) != want {
			t.Errorf("%s runs %q, want %q", h.Name, got, want)
		}
	}
}

// TestIncidentOverSSHAndSlack is an on-call incident end to end: build 2
// of web goes to three sshd hosts through signed Slack commands, Sentry
// reports an error spike, an admin clicks the spike's Rollback button,
// the errors go on after the rollback, people read status, history and
// audit, the rollback's lock holds until unlocked, and a fixed build 3
// ships. Every message the bot posts and every host's current release
// are checked against what happened.
func TestIncidentOverSSHAndSlack(t *testing.T) {
	in := newIncident(t)
	all := func(want string) {
		t.Helper()
		fleetRuns(t, in.fleet, want)
	}
	s := in.slash("UBOB", "/deploy", "web 1")
	in.wait(s, "web/prod now runs 1 (")
	s = in.slash("UBOB", "/deploy", "web 2")
	done2 := in.wait(s, "web/prod now runs 2 (")
	all("2")
	spike := in.wait(s, "Error spike after web 2 to prod")
	if !strings.Contains(spike.Text, "deploy     "+deployID(t, done2.Text)) {
		t.Errorf("the spike does not name deploy %s:\n%s", deployID(t, done2.Text), spike.Text)
	}

	value, s := in.click("UANA", spike, "Roll back to 1")
	if value != "rollback web prod to 1 from 2" {
		t.Errorf("the spike's Roll back to 1 button sends %q, want %q", value, "rollback web prod to 1 from 2")
	}
	in.wait(s, "Rolling back web/prod from 2 to 1")
	rolled := in.wait(s, "✔ Rollback ")
	if !strings.Contains(rolled.Text, "web/prod now runs 1 (") || !strings.Contains(rolled.Text, "requested by ana") {
		t.Errorf("the rollback's report:\n%s\nwant web/prod now runs 1, requested by ana", rolled.Text)
	}
	all("1")
	// The errors go on (the stand-in keeps them up): the rollback's
	// watch says so as a spike after the rollback, not a deploy of 1.
	after := in.wait(s, "Error spike after the rollback of web/prod to 1")
	if !strings.Contains(after.Text, "nothing rolls back further by itself") || strings.Contains(after.Text, "→ ") {
		t.Errorf("the spike after the rollback:\n%s\nwant it to say nothing rolls back further, with no button", after.Text)
	}

	// A second click, on the deploy's own button, finds the hosts where
	// it would take them and changes nothing.
	_, s = in.click("UANA", done2, "Roll back to 1")
	in.wait(s, "web/prod already runs 1 on every host; nothing to do")
	all("1")

	// A Sentry alert now is about 1, the rollback's target: 2 is marked
	// bad and nothing ran before 1, so a Rollback button would only be
	// refused, and there is none.
	s = in.alert(issueAlert("after-rollback", time.Now()))
	alert := in.wait(s, "Sentry event alert for web/prod")
	if !strings.Contains(alert.Text, "live release: web 1 ") || !strings.Contains(alert.Text, "no earlier good release to roll back to, so there is no Rollback button") || strings.Contains(alert.Text, "→ ") {
		t.Errorf("the alert after the rollback:\n%s\nwant the live release 1 and no Rollback button", alert.Text)
	}

	s = in.slash("UBOB", "/status", "web")
	status := in.wait(s, "Status")
	for _, want := range []string{"🔒 web/prod: locked by switchman since ", "rolled back from 2 by ana", "last rollback 1 (from 2) succeeded by ana", "host0, host1, host2: current 1"} {
		if !strings.Contains(status.Text, want) {
			t.Errorf("status lacks %q:\n%s", want, status.Text)
		}
	}
	s = in.slash("UBOB", "/history", "web")
	history := in.wait(s, "History")
	for _, want := range []string{"rollback 1 (from 2) succeeded by ana", "deploy 2 (from 1) succeeded by bob", "deploy 1 succeeded by bob"} {
		if !strings.Contains(history.Text, want) {
			t.Errorf("history lacks %q:\n%s", want, history.Text)
		}
	}
	s = in.slash("UANA", "/audit", "")
	auditLog := in.wait(s, "Audit log")
	for _, want := range []string{
		`ana (slack CPROD)  allowed  "rollback web prod to 1 from 2"`,
		`ana (slack CPROD)  event  "rollback 1 web/prod finished: succeeded"`,
		`event  "spike 2 web/prod"  — 600.0 errors/min vs 0.0 before the deploy`,
		`event  "spike 1 web/prod"`, "before the rollback",
		`bob (slack C1)  event  "deploy 2 web/prod finished: succeeded"`,
	} {
		if !strings.Contains(auditLog.Text, want) {
			t.Errorf("audit lacks %q:\n%s", want, auditLog.Text)
		}
	}

	// The rollback's lock holds: the fix waits for someone to lift it.
	s = in.slash("UBOB", "/deploy", "web 3")
	in.wait(s, "web/prod is locked: locked by switchman")
	s = in.slash("UANA", "/lock", "deploys web prod investigating INC-7")
	in.wait(s, "web/prod is locked already: locked by switchman")
	all("1")
	s = in.slash("UANA", "/unlock", "deploys web prod")
	in.wait(s, "Unlocked web/prod")
	s = in.slash("UBOB", "/deploy", "web 3")
	done3 := in.wait(s, "web/prod now runs 3 (")
	all("3")
	if !strings.Contains(done3.Text, "→ Roll back to 1: rollback web prod to 1 from 3") {
		t.Errorf("the report of 3 offers:\n%s\nwant Roll back to 1 (2 is marked bad)", done3.Text)
	}

	// Each deploy and rollback posted its spike once.
	spikes := map[string]int{}
	for _, c := range in.slack.matching(textHas("📈 Error spike")) {
		spikes[strings.SplitN(c.Text, ":", 2)[0]]++
	}
	for title, n := range spikes {
		if n != 1 {
			t.Errorf("%q posted %d times, want once", title, n)
		}
	}
}

// deployID is the run id in a deploy's final message, "✔ Deploy ID: …".
func deployID(t *testing.T, text string) string {
	t.Helper()
	f := strings.Fields(text)
	if len(f) < 3 {
		t.Fatalf("no deploy id in %q", text)
	}
	return strings.TrimSuffix(f[2], ":")
}
