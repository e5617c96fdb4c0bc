package slack_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/server"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

var _ commands.PresenceSource = (*slack.Presence)(nil)

const flowYAML = `bot:
  name: switchman
users:
  ana: {slack: UANA}
  bob: {slack: UBOB}
  carl: {slack: UCARL}
admins: [ana]
deployers: [bob]
slack:
  signing_secret: %s
  bot_token: xoxb-test
  api_url: %s
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    health:
      command: 'test "$(cat current/BUILD)" = {build}'
      timeout: 1s
      interval: 50ms
    environments:
      prod:
        hosts: [localhost]
        channel: "#deploys"
`

// flow is the whole bot behind the Slack endpoints: a real command
// service and deploy engine with the local transport, an embedded store,
// and a fake Slack Web API.
type flow struct {
	t       testing.TB
	api     *fakeSlack
	adapter *slack.Adapter
	srv     *httptest.Server
	store   *embedded.Store
	engine  *deploy.Engine
	n       atomic.Int64
}

func newFlow(t testing.TB, edit ...func(*slack.Options)) *flow {
	t.Helper()
	return newFlowWith(t, nil, edit...)
}

// newFlowWith is newFlow whose command service reads admins' presence
// from what presence returns for the flow's config.
func newFlowWith(t testing.TB, presence func(*config.Config) commands.PresenceSource, edit ...func(*slack.Options)) *flow {
	t.Helper()
	dir := t.TempDir()
	api := newFakeSlack(t)
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), fmt.Appendf(nil, flowYAML, testSecret, api.apiURL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st})
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	deps := commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy}
	if presence != nil {
		deps.Presence = presence(cfg)
	}
	svc := commands.NewService(deps)
	// Build 3 is broken: its health check fails.
	for build, content := range map[string]string{"1": "1", "2": "2", "3": "broken"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+build+".tar.gz"), tgz(t, map[string]string{"BUILD": content}))
	}
	opt := slack.Options{Config: cfg, Handler: svc, Dedupe: st, UpdateInterval: 20 * time.Millisecond, UpdatesPerMinute: 6000, Refresh: -1,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	for _, e := range edit {
		e(&opt)
	}
	a, err := slack.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{Slack: a}).Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Stop()
		eng.Wait()
		a.Wait()
		a.Close()
	})
	return &flow{t: t, api: api, adapter: a, srv: srv, store: st, engine: eng}
}

func tgz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gw.Close()
	return buf.Bytes()
}

// command sends a signed slash command and returns Slack's answer.
func (f *flow) command(user, channel, command, text string) string {
	f.t.Helper()
	n := f.n.Add(1)
	body := slashForm(user, channel, command, text, fmt.Sprintf("T%d", n), fmt.Sprintf("%s/response/%d", f.api.srv.URL, n))
	return f.post("/slack/commands", body)
}

// click sends a signed click on a button.
func (f *flow) click(user, channel, action string) string {
	f.t.Helper()
	n := f.n.Add(1)
	return f.post("/slack/interactions", interactionForm(user, channel, "switchman:"+action, action, fmt.Sprintf("T%d", n)))
}

func (f *flow) post(path, body string) string {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(signed(f.t, f.srv.URL+path, testSecret, body, time.Now(), formType))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		f.t.Fatalf("%s: got %s %s, want 200", path, resp.Status, b)
	}
	return string(b)
}

// drain waits until every command and deploy finished and its final state
// reached Slack.
func (f *flow) drain() []apiCall {
	f.adapter.Stop()
	f.engine.Wait()
	f.adapter.Wait()
	return f.api.snapshot()
}

// waitFinal waits for a progress message in the deploy channel whose text
// contains want, and returns the calls so far.
func (f *flow) waitFinal(want string) []apiCall {
	f.t.Helper()
	return f.api.waitFor("progress containing "+want, func(calls []apiCall) bool {
		for _, c := range only(calls, "chat.postMessage", "chat.update") {
			if c.Channel == "CDEPLOYS" && c.Status == 200 && strings.Contains(c.Text, want) {
				return true
			}
		}
		return false
	})
}

// progress checks the shape of the progress calls in the deploy channel
// from the one that starts with title: one chat.postMessage, then only
// chat.updates of that message, the last being final. It returns them.
func (f *flow) progress(calls []apiCall, title string) []apiCall {
	f.t.Helper()
	var seq []apiCall
	for _, c := range only(calls, "chat.postMessage", "chat.update") {
		if c.Method == "chat.postMessage" && strings.Contains(c.Text, title) {
			seq = []apiCall{c}
			continue
		}
		if len(seq) > 0 && c.Method == "chat.update" && c.TS == seq[0].TS {
			seq = append(seq, c)
		}
	}
	if len(seq) == 0 {
		f.t.Fatalf("no chat.postMessage with %q; calls:\n%s", title, describe(calls))
	}
	for i, c := range seq {
		if c.Channel != "CDEPLOYS" {
			f.t.Errorf("progress call %d: got channel %s, want CDEPLOYS", i, c.Channel)
		}
	}
	if len(seq) < 2 {
		f.t.Errorf("progress: got only the post, want the post then updates; calls:\n%s", describe(calls))
	}
	return seq
}

// wantFinal is the fallback text the final state of the latest record
// renders to.
func (f *flow) wantFinal() string {
	f.t.Helper()
	recs, err := f.store.Records(context.Background(), deploy.Filter{Limit: 1})
	if err != nil || len(recs) == 0 {
		f.t.Fatalf("records: %v, %d", err, len(recs))
	}
	var p commands.Progress
	p.Apply(deploy.Event{Kind: deploy.EventFinished, DeployID: recs[0].ID, Record: recs[0]})
	_, text := slack.Render(p.Message(time.Now()))
	return text
}

func TestFlowDeploySucceeds(t *testing.T) {
	f := newFlow(t)
	if ack := f.command("UBOB", "CREQ", "/deploy", "web 1"); !strings.Contains(ack, "working on it") {
		t.Errorf("ack: got %q, want working on it", ack)
	}
	f.waitFinal("now runs 1")
	calls := f.drain()
	t.Logf("calls:\n%s", describe(calls))

	seq := f.progress(calls, "Deploying web 1 to prod — requested by bob")
	last := seq[len(seq)-1]
	if want := f.wantFinal(); last.Text != want {
		t.Errorf("final message: got\n%s\nwant\n%s", last.Text, want)
	}
	for _, want := range []string{"✔ Deploy ", ": web/prod now runs 1", "requested by bob", "localhost  active, on 1"} {
		if !strings.Contains(last.Text, want) {
			t.Errorf("final message: got\n%s\nwant it to contain %q", last.Text, want)
		}
	}
	// The first deploy of web/prod: nothing to roll back to.
	if strings.Contains(last.Text, "Rollback") || strings.Contains(last.Blocks, `"type":"actions"`) {
		t.Errorf("final message of a first deploy: got\n%s\n%s\nwant no Rollback", last.Text, last.Blocks)
	}
	for _, c := range seq[1 : len(seq)-1] {
		if strings.Contains(c.Text, "now runs") {
			t.Errorf("an update before the last one shows the final state: %q", c.Text)
		}
	}

	// To bob only: the command's answer and a link to the progress.
	eph := only(calls, "chat.postEphemeral")
	if len(eph) != 2 {
		t.Fatalf("ephemeral messages: got\n%swant 2", describe(eph))
	}
	var sawReply, sawLink bool
	for _, c := range eph {
		if c.User != "UBOB" || c.Channel != "CREQ" {
			t.Errorf("ephemeral: got user %s channel %s, want UBOB in CREQ", c.User, c.Channel)
		}
		sawReply = sawReply || strings.Contains(c.Text, "Deploying web 1 to prod (deploy ")
		sawLink = sawLink || (strings.Contains(c.Text, "is in <#CDEPLOYS>") && strings.Contains(c.Text, "<http://127.0.0.1/archives/CDEPLOYS/p"))
	}
	if !sawReply || !sawLink {
		t.Errorf("ephemeral messages: got\n%swant the deploy answer and a link to #deploys", describe(eph))
	}
	if n := len(only(calls, "chat.getPermalink")); n != 1 {
		t.Errorf("chat.getPermalink: got %d calls, want 1", n)
	}
	if n := len(calls) - len(seq) - len(eph) - 1; n != 0 {
		t.Errorf("calls: got %d unexpected ones in\n%s", n, describe(calls))
	}
}

// TestFlowDeployOffersRollback: a deploy from an earlier release ends
// with a Rollback button carrying the command, named for the release it
// goes back to.
func TestFlowDeployOffersRollback(t *testing.T) {
	f := newFlow(t)
	f.command("UBOB", "CREQ", "/deploy", "web 1")
	f.waitFinal("now runs 1")
	f.command("UBOB", "CREQ", "/deploy", "web 2")
	f.waitFinal("now runs 2")
	calls := f.drain()

	seq := f.progress(calls, "Deploying web 2 to prod — requested by bob")
	last := seq[len(seq)-1]
	if want := f.wantFinal(); last.Text != want {
		t.Errorf("final message: got\n%s\nwant\n%s", last.Text, want)
	}
	if !strings.Contains(last.Text, "→ Roll back to 1: rollback web prod to 1 from 2") {
		t.Errorf("final message: got\n%s\nwant it to offer the Rollback to 1", last.Text)
	}
	for _, want := range []string{`"text":{"type":"plain_text","text":"Roll back to 1","emoji":true}`, `"action_id":"switchman:rollback web prod to 1 from 2"`,
		`"value":"rollback web prod to 1 from 2"`, `"confirm":{"type":"plain_text","text":"Roll back to 1"`} {
		if !strings.Contains(last.Blocks, want) {
			t.Errorf("final blocks: got %s, want a Rollback button to 1 carrying the command: %s", last.Blocks, want)
		}
	}
}

func TestFlowDeployReverted(t *testing.T) {
	f := newFlow(t)
	f.command("UBOB", "CREQ", "/deploy", "web 1")
	f.waitFinal("now runs 1")
	f.command("UBOB", "CREQ", "/deploy", "web 3")
	f.waitFinal("reverted after")
	calls := f.drain()

	seq := f.progress(calls, "Deploying web 3 to prod — requested by bob")
	last := seq[len(seq)-1]
	if want := f.wantFinal(); last.Text != want {
		t.Errorf("final message: got\n%s\nwant\n%s", last.Text, want)
	}
	for _, want := range []string{"✖ Deploy ", "of web 3 to prod reverted after", "release 3 marked bad", "localhost  reverted, on 1"} {
		if !strings.Contains(last.Text, want) {
			t.Errorf("final message: got\n%s\nwant it to contain %q", last.Text, want)
		}
	}
	if strings.Contains(last.Blocks, `"type":"actions"`) {
		t.Errorf("final blocks of a reverted deploy: got a button in %s, want none", last.Blocks)
	}
}

func TestFlowRefusedCommandIsEphemeralOnly(t *testing.T) {
	f := newFlow(t)
	f.command("UCARL", "CREQ", "/deploy", "web 1")
	f.api.waitFor("the refusal", func(c []apiCall) bool { return len(c) > 0 })
	calls := f.drain()
	if len(calls) != 1 || calls[0].Method != "chat.postEphemeral" || calls[0].User != "UCARL" || calls[0].Channel != "CREQ" ||
		!strings.Contains(calls[0].Text, "carl may not deploy web/prod") {
		t.Errorf("calls: got\n%swant only an ephemeral refusal to UCARL", describe(calls))
	}
	recs, _ := f.store.Records(context.Background(), deploy.Filter{})
	if len(recs) != 0 {
		t.Errorf("records: got %d, want none", len(recs))
	}
}

func TestFlowRateLimitedUpdate(t *testing.T) {
	f := newFlow(t)
	f.api.mu.Lock()
	f.api.limitAfter["chat.update"] = 1 // the first edit gets a 429 with Retry-After: 1
	f.api.mu.Unlock()
	f.command("UBOB", "CREQ", "/deploy", "web 1")
	f.waitFinal("now runs 1")
	calls := f.drain()

	updates := only(calls, "chat.update")
	if len(updates) < 2 || updates[0].Status != http.StatusTooManyRequests {
		t.Fatalf("updates: got\n%swant a 429 and then more", describe(updates))
	}
	if d := updates[1].At.Sub(updates[0].At); d < 950*time.Millisecond {
		t.Errorf("next edit %s after the 429, want at least its Retry-After of 1 s", d)
	}
	seq := f.progress(calls, "Deploying web 1 to prod")
	last := seq[len(seq)-1]
	if last.Status != 200 {
		t.Errorf("last update: got status %d, want 200", last.Status)
	}
	if want := f.wantFinal(); last.Text != want {
		t.Errorf("final message after a 429: got\n%s\nwant\n%s", last.Text, want)
	}
}

func TestFlowButtonsActAsTheClicker(t *testing.T) {
	f := newFlow(t)
	f.command("UBOB", "CREQ", "/deploy", "web 1")
	f.waitFinal("now runs 1")
	f.command("UBOB", "CREQ", "/deploy", "web 2")
	f.waitFinal("now runs 2")

	// carl has no grants: his click on Rollback is refused, to him alone.
	before := len(f.api.snapshot())
	f.click("UCARL", "CDEPLOYS", "rollback web prod from 2")
	calls := f.api.waitFor("carl's refusal", func(c []apiCall) bool { return len(c) > before })
	if c := calls[before]; c.Method != "chat.postEphemeral" || c.User != "UCARL" || !strings.Contains(c.Text, "carl may not rollback web/prod") {
		t.Errorf("carl's click: got\n%swant an ephemeral refusal", describe(calls[before:]))
	}

	// The button of build 1's message no longer applies: 2 runs now.
	before = len(f.api.snapshot())
	f.click("UBOB", "CDEPLOYS", "rollback web prod from 1")
	calls = f.api.waitFor("the stale click's refusal", func(c []apiCall) bool { return len(c) > before })
	if c := calls[before]; c.Method != "chat.postEphemeral" || c.User != "UBOB" || !strings.Contains(c.Text, "web/prod runs 2 now, not 1; nothing was rolled back") {
		t.Errorf("a click on an old message's button: got\n%swant an ephemeral refusal", describe(calls[before:]))
	}

	// bob may: his click on build 2's button rolls back, in his name.
	before = len(f.api.snapshot())
	f.click("UBOB", "CDEPLOYS", "rollback web prod from 2")
	// Deploy 1's final message says "now runs 1" too: wait for the
	// rollback's, or drain would wait for the engine while the rollback
	// starts.
	f.api.waitFor("the rollback's final message", func(calls []apiCall) bool {
		for _, c := range only(calls[before:], "chat.postMessage", "chat.update") {
			if c.Channel == "CDEPLOYS" && strings.Contains(c.Text, "Rollback ") && strings.Contains(c.Text, "now runs 1") {
				return true
			}
		}
		return false
	})
	calls = f.drain()
	if len(calls) > before+1 && calls[before+1].User == "UCARL" {
		t.Errorf("carl got more than one answer:\n%s", describe(calls[before:]))
	}
	seq := f.progress(calls, "Rolling back web/prod from 2 to 1 — requested by bob")
	if last := seq[len(seq)-1]; !strings.Contains(last.Text, "Rollback ") || !strings.Contains(last.Text, "web/prod now runs 1") {
		t.Errorf("rollback final: got %q", last.Text)
	}

	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var carl, bob bool
	for _, e := range entries {
		if e.Command == "rollback web prod from 2" && e.Platform == "slack" && e.Channel == "CDEPLOYS" {
			carl = carl || (e.User == "carl" && e.Decision == audit.Refused)
			bob = bob || (e.User == "bob" && e.Decision == audit.Allowed)
		}
	}
	if !carl || !bob {
		t.Errorf("audit: got %+v, want carl's click refused and bob's allowed, each in their own name", entries)
	}
}

func TestFlowMentionInTheDeployChannel(t *testing.T) {
	f := newFlow(t)
	body := `{"type":"event_callback","event_id":"EvM1","event":{"type":"app_mention","user":"UBOB","text":"<@UBOT> deploy web 1","channel":"CDEPLOYS","ts":"1.2"}}`
	resp, err := http.DefaultClient.Do(signed(t, f.srv.URL+"/slack/events", testSecret, body, time.Now(), "application/json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f.waitFinal("now runs 1")
	calls := f.drain()
	f.progress(calls, "Deploying web 1 to prod — requested by bob")
	// The command came from the deploy channel: no link to it.
	if n := len(only(calls, "chat.getPermalink")); n != 0 {
		t.Errorf("chat.getPermalink: got %d calls, want none", n)
	}
}

// TestFlowEditedMentionIsNotRun: Slack sends app_mention again, under a
// new event_id, when the message that mentions the bot is edited. The
// edit is not a new command: the deploy the message asked for runs once,
// and the edit is refused to its author and audited, whatever it now says.
func TestFlowEditedMentionIsNotRun(t *testing.T) {
	f := newFlow(t)
	mention := func(eventID, text, edited string) {
		t.Helper()
		body := `{"type":"event_callback","team_id":"T1","event_id":"` + eventID + `","event":{"type":"app_mention","user":"UBOB","text":"` + text +
			`","channel":"CDEPLOYS","ts":"1700000000.000100"` + edited + `}}`
		resp, err := http.DefaultClient.Do(signed(t, f.srv.URL+"/slack/events", testSecret, body, time.Now(), "application/json"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("event %s: got %s, want 200", eventID, resp.Status)
		}
	}
	mention("EvE1", "<@UBOT> deploy web 1", "")
	f.waitFinal("now runs 1")
	for _, tc := range []struct{ id, text string }{
		{"EvE2", "<@UBOT> deploy web 1"}, // a typo fixed elsewhere in the message
		{"EvE3", "<@UBOT> deploy web 2"}, // the build changed
	} {
		before := len(f.api.snapshot())
		mention(tc.id, tc.text, `,"edited":{"user":"UBOB","ts":"1700000060.000000"}`)
		calls := f.api.waitFor("the answer to the edit", func(c []apiCall) bool { return len(only(c[before:], "chat.postEphemeral")) > 0 })
		if c := only(calls[before:], "chat.postEphemeral")[0]; c.User != "UBOB" || !strings.Contains(c.Text, "edited") {
			t.Errorf("answer to edit %s: got\n%swant bob told that an edited message is not run", tc.id, describe(calls[before:]))
		}
	}
	f.drain()
	recs, err := f.store.Records(context.Background(), deploy.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Build != "1" {
		t.Errorf("deploys: got %d (%+v), want build 1's alone", len(recs), recs)
	}
	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range entries {
		if e.User == "bob" && e.Decision == audit.Refused && strings.Contains(e.Reason, "edited") {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("audit: got %+v, want both edits refused in bob's name", entries)
	}
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// urlSecrets are the parts of brokenAPI's URL a proxy in front of Slack
// may take as credentials.
var urlSecrets = []string{"proxyuser-7c1e", "proxypass-9d4a", "pathkey-3b8f"}

// brokenAPI returns a Web API base URL with urlSecrets in its user, password
// and path, whose server drops every connection: the client's error then
// quotes the URL it called.
func brokenAPI(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(urlSecrets[0], urlSecrets[1])
	u.Path = "/" + urlSecrets[2] + "/api/"
	return u.String()
}

// leaked returns the first of urlSecrets in s, or "".
func leaked(s string) string {
	for _, secret := range urlSecrets {
		if strings.Contains(s, secret) {
			return secret
		}
	}
	return ""
}

func TestFlowPresenceErrorHidesTheAPIURLCredentials(t *testing.T) {
	api := brokenAPI(t)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFlowWith(t, func(cfg *config.Config) commands.PresenceSource {
		c := *cfg
		c.Slack.APIURL = api
		return slack.NewPresence(&c, nil, log)
	}, func(o *slack.Options) { o.Log = log })

	f.command("UCARL", "CREQ", "/admins", "")
	f.api.waitFor("the admins reply", func(c []apiCall) bool { return len(c) > 0 })
	calls := f.drain()
	if len(calls) != 1 || !strings.Contains(calls[0].Text, "ana: unknown (slack presence of UANA: ") {
		t.Fatalf("calls: got\n%swant one reply saying ana's presence is unknown", describe(calls))
	}
	// The operator still learns which server failed.
	if u, _ := url.Parse(api); !strings.Contains(calls[0].Text, "http://"+u.Host+"/…") {
		t.Errorf("reply: got\n%s\nwant it to name http://%s/…", calls[0].Text, u.Host)
	}
	for what, s := range map[string]string{"reply text": calls[0].Text, "reply blocks": calls[0].Blocks, "log": logs.String()} {
		if secret := leaked(s); secret != "" {
			t.Errorf("%s: got %q in\n%s\nwant no credential of the API URL", what, secret, s)
		}
	}
	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if secret := leaked(fmt.Sprintf("%+v", e)); secret != "" {
			t.Errorf("audit: got %q in %+v, want no credential of the API URL", secret, e)
		}
	}
}

// TestFlowClickOnALargeMessage: Slack sends the whole message a button is
// in with its click. A summary showing its hosts' errors takes such a
// click past the 64 KiB other requests may have, and its buttons must
// still work, through the server as it is mounted.
func TestFlowClickOnALargeMessage(t *testing.T) {
	f := newFlow(t)
	var blocks []string
	for i := range 300 {
		blocks = append(blocks, fmt.Sprintf(`{"type":"section","text":{"type":"mrkdwn","text":"web-%03d  active, on 2 %s"}}`, i, strings.Repeat("·", 300)))
	}
	payload := fmt.Sprintf(`{"type":"block_actions","trigger_id":"T-large","user":{"id":"UBOB","username":"x"},"channel":{"id":"CDEPLOYS"},"container":{"type":"message","channel_id":"CDEPLOYS"},"response_url":"","message":{"type":"message","text":"Deploy","blocks":[%s]},"actions":[{"type":"button","action_id":"switchman:whoami","block_id":"switchman_actions","value":"whoami","action_ts":"1700000000.1"}]}`,
		strings.Join(blocks, ","))
	body := url.Values{"payload": {payload}}.Encode()
	if len(body) < 256<<10 {
		t.Fatalf("the click is %d bytes, want one well over 64 KiB", len(body))
	}
	before := len(f.api.snapshot())
	f.post("/slack/interactions", body)
	calls := f.api.waitFor("bob's answer", func(c []apiCall) bool { return len(c) > before })
	if c := calls[before]; c.User != "UBOB" || !strings.Contains(c.Text, "You are bob") {
		t.Errorf("the click on a large message: got\n%swant bob's whoami", describe(calls[before:]))
	}
}

// TestFlowDiscordDeployChannel: with Slack and Discord both configured,
// an env's channel that is a Discord channel id (all digits) is where the
// bot posts by itself through Discord; a deploy asked for in Slack shows
// its progress where it was asked, without first trying that channel in
// Slack, which has no such channel.
func TestFlowDiscordDeployChannel(t *testing.T) {
	const discordChannel = "234567890123456789"
	f := newFlow(t, func(o *slack.Options) { o.Config.Apps["web"].Envs["prod"].Channel = discordChannel })
	f.api.failIn[discordChannel] = "channel_not_found" // as Slack answers
	f.command("UBOB", "CREQ", "/deploy", "web 1")
	f.api.waitFor("the final state in the requester's channel", func(calls []apiCall) bool {
		for _, c := range only(calls, "chat.postMessage", "chat.update") {
			if c.Channel == "CREQ" && c.Status == 200 && strings.Contains(c.Text, "now runs 1") {
				return true
			}
		}
		return false
	})
	calls := f.drain()
	for _, c := range calls {
		if c.Channel == discordChannel {
			t.Errorf("got a %s to the Discord channel %s, want none: Slack has no such channel\n%s", c.Method, discordChannel, describe(calls))
			break
		}
	}
}

// TestFlowLinkThroughTheResponseURL: a deploy asked for where the bot
// cannot post (a direct message between two people, a private channel it
// is not in) shows its progress in the env's channel; the requester is
// told where, through the response URL, as Slack takes no ephemeral
// message there.
func TestFlowLinkThroughTheResponseURL(t *testing.T) {
	f := newFlow(t)
	f.api.failIn["DREQ"] = "channel_not_found"
	f.command("UBOB", "DREQ", "/deploy", "web 1")
	f.waitFinal("now runs 1")
	calls := f.drain()
	var links []apiCall
	for _, c := range only(calls, "response_url") {
		if strings.Contains(c.Text, "is in <#CDEPLOYS>") {
			links = append(links, c)
		}
	}
	if len(links) != 1 {
		t.Fatalf("links to the progress through the response URL: got %d, want 1; calls:\n%s", len(links), describe(calls))
	}
	if links[0].User != "ephemeral" {
		t.Errorf("link: got response_type %q, want ephemeral", links[0].User)
	}
}

// TestFlowLinkOutlastsARateLimit: the link that tells the requester where
// the progress of their deploy is waits out a 429 of chat.postEphemeral
// and is sent again: a mention has no response URL to fall back on.
func TestFlowLinkOutlastsARateLimit(t *testing.T) {
	f := newFlow(t)
	limited := false
	f.api.limitWhen = func(c apiCall) bool {
		if !limited && c.Method == "chat.postEphemeral" && strings.Contains(c.Text, "is in <#CDEPLOYS>") {
			limited = true
			return true
		}
		return false
	}
	body := `{"type":"event_callback","team_id":"T1","event_id":"EvLink","event":{"type":"app_mention","user":"UBOB","text":"<@UBOT> deploy web 1","channel":"C1","ts":"1.2"}}`
	resp, err := http.DefaultClient.Do(signed(t, f.srv.URL+"/slack/events", testSecret, body, time.Now(), "application/json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f.waitFinal("now runs 1")
	calls := f.drain()
	var refused, taken int
	for _, c := range only(calls, "chat.postEphemeral") {
		if c.Channel != "C1" || c.User != "UBOB" || !strings.Contains(c.Text, "is in <#CDEPLOYS>") {
			continue
		}
		switch c.Status {
		case http.StatusTooManyRequests:
			refused++
		case http.StatusOK:
			taken++
		}
	}
	if refused != 1 || taken != 1 {
		t.Errorf("links to the progress: got %d rate-limited and %d taken, want 1 and 1; calls:\n%s", refused, taken, describe(calls))
	}
}

// TestFlowLongMentionIsAnswered: a mention in a long message (Slack takes
// 40,000 characters, and its event carries them twice: as text and as
// rich-text blocks) is delivered, not refused for its size, so that its
// author is told why nothing ran rather than hear nothing while Slack
// retries it.
func TestFlowLongMentionIsAnswered(t *testing.T) {
	f := newFlow(t)
	text := "<@UBOT> status web " + strings.Repeat("log line: connection reset by peer\\n", 1100)
	body := `{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"EvLong","event_time":1700000000,` +
		`"event":{"type":"app_mention","user":"UBOB","text":"` + text + `","ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100",` +
		`"blocks":[{"type":"rich_text","block_id":"b1","elements":[{"type":"rich_text_section","elements":[{"type":"user","user_id":"UBOT"},{"type":"text","text":"` + text[len("<@UBOT>"):] + `"}]}]}]}}`
	if len(body) <= 64<<10 {
		t.Fatalf("event of %d bytes, want one over 64 KiB", len(body))
	}
	resp, err := http.DefaultClient.Do(signed(t, f.srv.URL+"/slack/events", testSecret, body, time.Now(), "application/json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("event of %d bytes: got %s, want 200", len(body), resp.Status)
	}
	calls := f.api.waitFor("the answer", func(c []apiCall) bool { return len(only(c, "chat.postEphemeral")) > 0 })
	eph := only(calls, "chat.postEphemeral")
	if len(eph) != 1 || eph[0].User != "UBOB" || !strings.Contains(eph[0].Text, "too long") {
		t.Errorf("answer: got\n%swant bob told that the command is too long", describe(eph))
	}
}

// heldHandler holds every command at its start until release is closed,
// then runs it with the handler it wraps.
type heldHandler struct {
	slack.Handler
	release chan struct{}
}

func (h *heldHandler) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	<-h.release
	return h.Handler.Handle(ctx, req, out)
}

// TestFlowAnswersBeforeTheCommandRuns: Slack gives up on a request it
// has no answer to after 3 s, and sends an event or a click again, so its
// answer must not wait for the command. A slash command, a click and a
// mention are each answered while their command is held at its start;
// released, the command runs and answers its requester by itself.
func TestFlowAnswersBeforeTheCommandRuns(t *testing.T) {
	for _, tc := range []struct {
		name, path, contentType, body string
		answer                        string // in Slack's answer
	}{
		{name: "slash command", path: "/slack/commands", contentType: formType,
			body: slashForm("UBOB", "CREQ", "/switchman", "whoami", "THELD", ""), answer: "working on it"},
		{name: "click", path: "/slack/interactions", contentType: formType,
			body: interactionForm("UBOB", "CREQ", "switchman:whoami", "whoami", "THELD")},
		{name: "mention", path: "/slack/events", contentType: "application/json",
			body: `{"type":"event_callback","team_id":"T1","event_id":"EvHeld","event":{"type":"app_mention","user":"UBOB","text":"<@UBOT> whoami","channel":"CREQ","ts":"1700000000.000100"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := &heldHandler{release: make(chan struct{})}
			f := newFlow(t, func(o *slack.Options) { held.Handler, o.Handler = o.Handler, held })
			var release sync.Once
			// Before the flow's own cleanup, which waits for the command.
			t.Cleanup(func() { release.Do(func() { close(held.release) }) })

			type answer struct {
				status int
				body   string
				err    error
			}
			var got atomic.Pointer[answer]
			r := signed(t, f.srv.URL+tc.path, testSecret, tc.body, time.Now(), tc.contentType)
			go func() {
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					got.Store(&answer{err: err})
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				got.Store(&answer{status: resp.StatusCode, body: string(b), err: err})
			}()
			waitUntil(t, "Slack's answer while the command is held at its start (an answer that waits for the command never comes)",
				func() bool { return got.Load() != nil })
			a := got.Load()
			if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, tc.answer) {
				t.Fatalf("answer while the command is held: got %d %q (%v), want 200 with %q", a.status, a.body, a.err, tc.answer)
			}
			if calls := f.api.snapshot(); len(calls) != 0 {
				t.Fatalf("before the command ran: got\n%swant no call to Slack", describe(calls))
			}

			release.Do(func() { close(held.release) })
			calls := f.api.waitFor("the command's own answer", func(c []apiCall) bool { return len(c) > 0 })
			if c := calls[0]; c.Method != "chat.postEphemeral" || c.User != "UBOB" || !strings.Contains(c.Text, "You are bob") {
				t.Errorf("after the answer, the command: got\n%swant bob's whoami, to him alone", describe(calls))
			}
		})
	}
}
