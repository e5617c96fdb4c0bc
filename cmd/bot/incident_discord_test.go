package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// Discord ids of the incident over Discord.
const (
	dcApp     = "700000000000000001"
	dcGuild   = "700000000000000002"
	dcChannel = "700000000000000003" // where people type commands
	dcProd    = "700000000000000004" // web/prod's channel
	dcAna     = "700000000000000011"
	dcBob     = "700000000000000012"
	dcToken   = "discord-incident-token"
)

// dcMessage is one message the bot showed on Discord: an interaction's
// response, a webhook (follow-up) post or edit, or a channel message.
type dcMessage struct {
	Call    string // e.g. "PATCH webhooks/…/messages/@original", "response"
	Channel string // for channel messages
	Text    string // the embeds' titles, descriptions and fields, one a line
	Raw     map[string]any
	Buttons []dcButton
}

type dcButton struct{ Label, CustomID string }

// fakeDiscordAPI is a stand-in for Discord's REST API that records the
// messages the bot sends and checks them against Discord's limits.
type fakeDiscordAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu   sync.Mutex
	msgs []dcMessage
	ids  int
}

func newFakeDiscordAPI(t *testing.T) *fakeDiscordAPI {
	f := &fakeDiscordAPI{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDiscordAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p := strings.TrimPrefix(r.URL.Path, "/api/")
	parts := strings.Split(p, "/")
	w.Header().Set("Content-Type", "application/json")
	if parts[0] == "channels" && r.Header.Get("Authorization") != "Bot "+dcToken {
		f.t.Errorf("%s %s without the bot token", r.Method, p)
	}
	switch {
	case r.Method == http.MethodGet && p == "users/@me":
		io.WriteString(w, `{"id":"700000000000000099","username":"switchman","bot":true}`)
		return
	case r.Method == http.MethodDelete:
		f.record(dcMessage{Call: "DELETE " + p})
		w.WriteHeader(http.StatusNoContent)
		return
	case r.Method == http.MethodPut:
		w.Write(body)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		f.t.Errorf("%s %s: %v", r.Method, p, err)
	}
	msg := f.message(r.Method+" "+p, m)
	if parts[0] == "channels" {
		msg.Channel = parts[1]
	}
	f.mu.Lock()
	f.ids++
	id := fmt.Sprintf("80000000000000%04d", f.ids)
	f.mu.Unlock()
	if r.Method == http.MethodPatch {
		id = parts[len(parts)-1]
	}
	f.record(msg)
	fmt.Fprintf(w, `{"id":%q,"channel_id":%q}`, id, dcChannel)
}

// message checks m against Discord's limits and what the bot must always
// send, and renders it.
func (f *fakeDiscordAPI) message(call string, m map[string]any) dcMessage {
	f.t.Helper()
	msg := dcMessage{Call: call, Raw: m}
	if am, ok := m["allowed_mentions"].(map[string]any); !ok || len(asSlice(am["parse"])) != 0 {
		f.t.Errorf("%s: allowed_mentions %v, want parse: [] so that nobody is pinged", call, m["allowed_mentions"])
	}
	var lines []string
	total := 0
	for _, e := range asSlice(m["embeds"]) {
		e, _ := e.(map[string]any)
		title, _ := e["title"].(string)
		desc, _ := e["description"].(string)
		total += utf8.RuneCountInString(title) + utf8.RuneCountInString(desc)
		if utf8.RuneCountInString(title) > 256 || utf8.RuneCountInString(desc) > 4096 {
			f.t.Errorf("%s: embed title or description over Discord's limit", call)
		}
		lines = append(lines, title, desc)
		fields := asSlice(e["fields"])
		if len(fields) > 25 {
			f.t.Errorf("%s: %d fields, Discord takes 25", call, len(fields))
		}
		for _, fl := range fields {
			fl, _ := fl.(map[string]any)
			n, _ := fl["name"].(string)
			v, _ := fl["value"].(string)
			total += utf8.RuneCountInString(n) + utf8.RuneCountInString(v)
			if utf8.RuneCountInString(n) > 256 || utf8.RuneCountInString(v) > 1024 {
				f.t.Errorf("%s: field %q over Discord's limit", call, n)
			}
			lines = append(lines, n+": "+v)
		}
		if ft, ok := e["footer"].(map[string]any); ok {
			s, _ := ft["text"].(string)
			total += utf8.RuneCountInString(s)
			lines = append(lines, s)
		}
	}
	if total > 6000 {
		f.t.Errorf("%s: embeds of %d characters, Discord takes 6000", call, total)
	}
	if c, _ := m["content"].(string); c != "" {
		lines = append([]string{c}, lines...)
	}
	for _, row := range asSlice(m["components"]) {
		row, _ := row.(map[string]any)
		for _, b := range asSlice(row["components"]) {
			b, _ := b.(map[string]any)
			label, _ := b["label"].(string)
			id, _ := b["custom_id"].(string)
			if len(id) == 0 || len(id) > 100 || utf8.RuneCountInString(label) > 80 {
				f.t.Errorf("%s: button %q custom_id %q outside Discord's limits", call, label, id)
			}
			msg.Buttons = append(msg.Buttons, dcButton{label, id})
		}
	}
	msg.Text = strings.Join(lines, "\n")
	return msg
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func (f *fakeDiscordAPI) record(m dcMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, m)
}

func (f *fakeDiscordAPI) snapshot() []dcMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dcMessage(nil), f.msgs...)
}

// dcIncident is the incident of TestIncidentOverSSHAndSlack, over Discord.
type dcIncident struct {
	t       *testing.T
	bot     *served
	discord *fakeDiscordAPI
	sentry  *spikingSentry
	fleet   *sshd.Fleet
	key     ed25519.PrivateKey
	seq     atomic.Int64
	private atomic.Bool // the last interaction was answered for its sender alone

}

func newDiscordIncident(t *testing.T) *dcIncident {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	in := &dcIncident{t: t, fleet: sshd.StartFleet(t, 3, sshd.Options{}), discord: newFakeDiscordAPI(t), sentry: newSpikingSentry(t), key: key}
	dir, addr := t.TempDir(), freePort(t)
	for _, b := range []string{"1", "2", "3"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tarballOf(t, b))
	}
	var y strings.Builder
	fmt.Fprintf(&y, "bot:\n  listen: %s\nstore:\n  path: state.db\nusers:\n  ana: {discord: %q}\n  bob: {discord: %q}\nadmins: [ana]\ndeployers: [bob]\n", addr, dcAna, dcBob)
	fmt.Fprintf(&y, "discord:\n  public_key: %s\n  bot_token: %s\n  application_id: %q\n  guild_id: %q\n  api_url: %s\n", hex.EncodeToString(pub), dcToken, dcApp, dcGuild, in.discord.srv.URL+"/api/")
	fmt.Fprintf(&y, "sentry:\n  url: %s\n  org: acme\n  token: sntrys-test\n  webhook_secret: %s\n", in.sentry.srv.URL, incidentSecret)
	fmt.Fprintf(&y, "apps:\n  web:\n    artifact: {path: 'artifacts/{app}-{build}.tar.gz'}\n    path: /srv/web\n    restart: 'true'\n")
	fmt.Fprintf(&y, "    health: {command: 'test -f current/BUILD', timeout: 10s, interval: 100ms}\n    environments:\n      prod:\n        transport: ssh\n        channel: %q\n", dcProd)
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

// interact posts interaction v, signed as Discord signs it, and records
// the response as a message; it returns how many messages were recorded
// before it.
func (in *dcIncident) interact(v map[string]any) int {
	in.t.Helper()
	seen := len(in.discord.snapshot())
	body, _ := json.Marshal(v)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, in.bot.base+"/discord/interactions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Timestamp", ts)
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(in.key, append([]byte(ts), body...))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		in.t.Fatalf("POST /discord/interactions: got %s, want 200", resp.Status)
	}
	var r struct {
		Type int            `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		in.t.Fatal(err)
	}
	flags, _ := r.Data["flags"].(float64)
	in.private.Store(r.Type == 5 && int(flags)&64 != 0)
	if r.Data != nil && (r.Type == 4 || r.Type == 7) {
		in.discord.record(in.discord.message(fmt.Sprintf("response %d", r.Type), r.Data))
	}
	return seen
}

func (in *dcIncident) base(user string, typ int) map[string]any {
	id := fmt.Sprint(900000000000000000 + in.seq.Add(1))
	return map[string]any{
		"id": id, "application_id": dcApp, "type": typ, "token": "itok-" + id, "version": 1,
		"guild_id": dcGuild, "channel_id": dcChannel,
		"member": map[string]any{"user": map[string]any{"id": user, "username": "u" + user}},
	}
}

// slash runs /name with string options given as name, value pairs.
func (in *dcIncident) slash(user, name string, kv ...string) int {
	in.t.Helper()
	opts := []map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		opts = append(opts, map[string]any{"name": kv[i], "type": 3, "value": kv[i+1]})
	}
	v := in.base(user, 2)
	v["data"] = map[string]any{"id": "900", "name": name, "type": 1, "options": opts}
	return in.interact(v)
}

// click clicks the button of m whose label holds label.
func (in *dcIncident) click(user string, m dcMessage, label string) (customID string, seen int) {
	in.t.Helper()
	for _, b := range m.Buttons {
		if strings.Contains(b.Label, label) {
			v := in.base(user, 3)
			ch := m.Channel
			if ch == "" {
				ch = dcChannel
			}
			v["channel_id"] = ch
			v["message"] = map[string]any{"id": "555", "channel_id": ch}
			v["data"] = map[string]any{"custom_id": b.CustomID, "component_type": 2}
			return b.CustomID, in.interact(v)
		}
	}
	in.t.Fatalf("no button %q in %q; buttons %v", label, m.Text, m.Buttons)
	return "", 0
}

func (in *dcIncident) wait(seen int, want string) dcMessage {
	in.t.Helper()
	return waitFor(in.t, in.discord.snapshot, func(m dcMessage) string { return m.Text }, seen, want, func(msgs []dcMessage) string {
		var b strings.Builder
		for _, m := range msgs {
			fmt.Fprintf(&b, "%s %s: %q %v\n", m.Call, m.Channel, m.Text, m.Buttons)
		}
		return b.String() + "\nlog:\n" + in.bot.stderr.String()
	})
}

// mustBePrivate checks whether the last interaction's deferred answer
// was for its sender alone, as Slack answers with an ephemeral message.
func (in *dcIncident) mustBePrivate(what string, want bool) {
	in.t.Helper()
	if got := in.private.Load(); got != want {
		in.t.Errorf("%s answered for its sender alone: %v, want %v", what, got, want)
	}
}

// alert sends body to the Sentry webhook as an event alert, signed.
func (in *dcIncident) alert(body []byte) {
	in.t.Helper()
	sendEventAlert(in.t, in.bot.base, body)
}

// TestIncidentOverSSHAndDiscord is TestIncidentOverSSHAndSlack with
// Discord: signed interactions for the commands and the Rollback click,
// and every message the bot sends checked against Discord's limits, for
// allowed_mentions, and for what Slack is told at the same step.
func TestIncidentOverSSHAndDiscord(t *testing.T) {
	in := newDiscordIncident(t)
	all := func(want string) {
		t.Helper()
		fleetRuns(t, in.fleet, want)
	}
	s := in.slash(dcBob, "deploy", "app", "web", "build", "1")
	in.wait(s, "web/prod now runs 1 (")
	s = in.slash(dcBob, "deploy", "app", "web", "build", "2")
	done2 := in.wait(s, "web/prod now runs 2 (")
	all("2")
	spike := in.wait(s, "Error spike after web 2 to prod")
	if spike.Channel != dcProd {
		t.Errorf("the spike went to %q (%s), want web/prod's channel %s", spike.Channel, spike.Call, dcProd)
	}

	id, s := in.click(dcAna, spike, "Roll back to 1")
	if id != "rollback web prod to 1 from 2" {
		t.Errorf("the spike's Roll back to 1 button sends %q, want %q", id, "rollback web prod to 1 from 2")
	}
	in.wait(s, "Rolling back web/prod from 2 to 1")
	rolled := in.wait(s, "web/prod now runs 1 (")
	if !strings.Contains(rolled.Text, "web/prod now runs 1 (") || !strings.Contains(rolled.Text, "requested by ana") {
		t.Errorf("the rollback's report:\n%s\nwant web/prod now runs 1, requested by ana", rolled.Text)
	}
	all("1")
	after := in.wait(s, "Error spike after the rollback of web/prod to 1")
	if !strings.Contains(after.Text, "nothing rolls back further by itself") || len(after.Buttons) != 0 {
		t.Errorf("the spike after the rollback:\n%s %v\nwant it to say nothing rolls back further, with no button", after.Text, after.Buttons)
	}

	_, s = in.click(dcAna, done2, "Roll back to 1")
	in.wait(s, "web/prod already runs 1 on every host; nothing to do")
	all("1")

	seen := len(in.discord.snapshot())
	in.alert(issueAlert("after-rollback", time.Now()))
	alert := in.wait(seen, "Sentry event alert for web/prod")
	if alert.Channel != dcProd || !strings.Contains(alert.Text, "live release: web 1 ") || !strings.Contains(alert.Text, "no earlier good release to roll back to, so there is no Rollback button") || len(alert.Buttons) != 0 {
		t.Errorf("the alert after the rollback (%s):\n%s %v\nwant the live release 1 and no Rollback button", alert.Call, alert.Text, alert.Buttons)
	}

	s = in.slash(dcBob, "status", "app", "web")
	status := in.wait(s, "Status")
	in.mustBePrivate("/status", true)
	for _, want := range []string{"web/prod: locked by switchman since ", "rolled back from 2 by ana", "last rollback 1 (from 2) succeeded by ana", "host0, host1, host2: current 1"} {
		if !strings.Contains(status.Text, want) {
			t.Errorf("status lacks %q:\n%s", want, status.Text)
		}
	}
	s = in.slash(dcBob, "history", "app", "web")
	history := in.wait(s, "History")
	in.mustBePrivate("/history", true)
	for _, want := range []string{"rollback 1 (from 2) succeeded by ana", "deploy 2 (from 1) succeeded by bob", "deploy 1 succeeded by bob"} {
		if !strings.Contains(history.Text, want) {
			t.Errorf("history lacks %q:\n%s", want, history.Text)
		}
	}

	s = in.slash(dcAna, "audit")
	auditLog := in.wait(s, "Audit log")
	in.mustBePrivate("/audit", true)
	for _, want := range []string{
		`ana (discord ` + dcProd + `)  allowed  "rollback web prod to 1 from 2"`,
		`ana (discord ` + dcProd + `)  event  "rollback 1 web/prod finished: succeeded"`,
		`event  "spike 2 web/prod"  — 600.0 errors/min vs 0.0 before the deploy`,
		`bob (discord ` + dcChannel + `)  event  "deploy 2 web/prod finished: succeeded"`,
	} {
		if !strings.Contains(auditLog.Text, want) {
			t.Errorf("audit lacks %q:\n%s", want, auditLog.Text)
		}
	}

	s = in.slash(dcBob, "deploy", "app", "web", "build", "3")
	in.wait(s, "web/prod is locked: locked by switchman")
	s = in.slash(dcAna, "lock", "app", "web", "env", "prod", "reason", "investigating INC-7")
	in.wait(s, "web/prod is locked already: locked by switchman")
	all("1")
	s = in.slash(dcAna, "unlock", "app", "web", "env", "prod")
	in.wait(s, "Unlocked web/prod")
	in.mustBePrivate("/unlock", false)
	s = in.slash(dcBob, "deploy", "app", "web", "build", "3")
	done3 := in.wait(s, "web/prod now runs 3 (")
	all("3")
	found := false
	for _, b := range done3.Buttons {
		found = found || (strings.Contains(b.Label, "Roll back to 1") && b.CustomID == "rollback web prod to 1 from 3")
	}
	if !found {
		t.Errorf("the report of 3 offers %v, want Roll back to 1 (2 is marked bad)", done3.Buttons)
	}
}
