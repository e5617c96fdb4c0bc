package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// slackAPI is a minimal Slack Web API on 127.0.0.1 that records the
// messages the bot posts and edits.
type slackAPI struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []string // "method channel: text"
}

func newSlackAPI(t *testing.T) *slackAPI {
	a := &slackAPI{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		method := strings.TrimPrefix(r.URL.Path, "/api/")
		a.mu.Lock()
		a.log = append(a.log, method+" "+r.Form.Get("channel")+": "+r.Form.Get("text"))
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": "1700000000.000100",
			"message_ts": "1700000000.000200", "permalink": "http://127.0.0.1/p"})
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *slackAPI) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.log...)
}

func tarballOf(t *testing.T, build string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	tw.WriteHeader(&tar.Header{Name: "BUILD", Mode: 0o644, Size: int64(len(build)), Typeflag: tar.TypeReg})
	tw.Write([]byte(build))
	tw.Close()
	gw.Close()
	return buf.Bytes()
}

const serveYAML = `bot:
  listen: %s
store:
  path: state.db
users:
  bob: {slack: UBOB}
deployers: [bob]
slack:
  signing_secret: ${TEST_SLACK_SIGNING_SECRET}
  bot_token: xoxb-test
  api_url: %s
discord:
  public_key: 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c
  bot_token: discord-test-token
  application_id: "1"
  api_url: %s
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
`

// TestServeSlack runs the bot as `bot serve` with Slack in HTTP mode: a
// signed /deploy deploys and reports to Slack, /healthz and /metrics
// answer, and a cancelled context shuts it down cleanly.
func TestServeSlack(t *testing.T) {
	const secret = "serve-test-secret"
	t.Setenv("TEST_SLACK_SIGNING_SECRET", secret)
	api := newSlackAPI(t)
	dir, addr := t.TempDir(), freePort(t)
	artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-1.tar.gz"), tarballOf(t, "1"))
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, serveYAML, addr, api.srv.URL+"/api/", api.srv.URL+"/discord/"), 0o644); err != nil {
		t.Fatal(err)
	}

	bot := serveBot(t, cfg, addr)
	base, stderr := bot.base, bot.stderr
	pollHTTP(t, base+"/healthz", func(code int, body string) bool { return code == 200 && strings.Contains(body, `"store":"ok"`) })

	body := slashBody("web 1", "T1")
	resp := postSlash(t, base, secret, body)
	ack, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(ack), "working on it") {
		t.Fatalf("/slack/commands: got %s %s, want 200 working on it", resp.Status, ack)
	}
	// An unsigned request is refused.
	resp, err := http.Post(base+"/slack/commands", "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unsigned /slack/commands: got %s, want 401", resp.Status)
	}
	// The Discord adapter is mounted, and refuses unsigned interactions.
	resp, err = http.Post(base+"/discord/interactions", "application/json", strings.NewReader(`{"type":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unsigned /discord/interactions: got %s, want 401", resp.Status)
	}

	deadline := time.Now().Add(30 * time.Second)
	for !hasCallPrefix(api.calls(), "chat.update C1: ✔ Deploy ") {
		if time.Now().After(deadline) {
			t.Fatalf("no final progress message; calls:\n%s\nlog:\n%s", strings.Join(api.calls(), "\n"), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pollHTTP(t, base+"/metrics", func(code int, body string) bool {
		return code == 200 && strings.Contains(body, `switchman_command_latency_seconds_count{platform="slack"} 1`) &&
			strings.Contains(body, `switchman_http_requests_total{code="401",handler="POST /slack/commands"} 1`)
	})

	if err := bot.stop(t); err != nil {
		t.Errorf("serve: got %v, want nil after a shutdown", err)
	}
	if strings.Contains(stderr.String(), secret) {
		t.Errorf("the log holds the signing secret:\n%s", stderr.String())
	}
}

func TestServeRefusesUnverifiableSlack(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "switchman.yaml")
	y := strings.Replace(fmt.Sprintf(serveYAML, freePort(t), "http://127.0.0.1:9/api/", "http://127.0.0.1:9/discord/"), "  signing_secret: ${TEST_SLACK_SIGNING_SECRET}\n", "", 1)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr syncbuf.Buffer
	err := run(context.Background(), []string{"-config", cfg, "serve"}, stdio{In: strings.NewReader(""), Out: io.Discard, Err: &stderr})
	var code exitCode
	if !errors.As(err, &code) || code != 1 || !strings.Contains(stderr.String(), "slack.signing_secret: required in HTTP mode") {
		t.Errorf("serve without a signing secret: got %v, stderr %q; want exit 1 naming slack.signing_secret", err, stderr.String())
	}
}

func pollHTTP(t *testing.T, url string, ok func(int, string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ok(resp.StatusCode, string(b)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last answer %d\n%s", url, resp.StatusCode, b)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasCallPrefix(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// served is a bot a test runs as `bot serve` in this process.
type served struct {
	base   string // http://ADDR
	stderr *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

// serveBot runs `bot -config cfg serve`, which listens on addr, until the
// test ends or stop, and returns once /healthz answers 200 with the
// start-up recovery done. /healthz answers 200 "recovering" while it
// runs, and a test that breaks the store then had it fail the recovery,
// which stops the bot.
func serveBot(t *testing.T, cfg, addr string) *served {
	t.Helper()
	s := startServe(t, cfg, addr)
	pollHTTP(t, s.base+"/healthz", func(code int, body string) bool {
		return code == http.StatusOK && !strings.Contains(body, `"status":"recovering"`)
	})
	return s
}

// startServe is serveBot without waiting for /healthz.
func startServe(t *testing.T, cfg, addr string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &served{base: "http://" + addr, stderr: &syncbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, []string{"-config", cfg, "serve"}, stdio{In: strings.NewReader(""), Out: io.Discard, Err: s.stderr})
	}()
	return s
}

// stop tells the bot to stop, as SIGTERM does, and returns what serve
// returned; it fails t if the bot has not stopped within a minute.
func (s *served) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop")
		return nil
	}
}

// slashBody is the form Slack posts for /deploy text, typed by UBOB in C1.
func slashBody(text, trigger string) string {
	return url.Values{"command": {"/deploy"}, "text": {text}, "user_id": {"UBOB"}, "channel_id": {"C1"}, "trigger_id": {trigger}}.Encode()
}

// postSlash posts body to base's /slack/commands, signed with secret as
// Slack signs it now. The caller closes the response's body.
func postSlash(t *testing.T, base, secret, body string) *http.Response {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.Sign(secret, ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestServeChecksSlackToken: a bot token Slack refuses stops the start-up
// with a message naming it, instead of a bot that takes commands and runs
// deploys whose every message Slack then refuses. A token Slack accepts
// starts the bot.
func TestServeChecksSlackToken(t *testing.T) {
	tests := []struct {
		name    string
		answer  string // to every Web API call
		wantErr string // "" when the bot starts
	}{
		{"revoked", `{"ok":false,"error":"token_revoked"}`, "slack.bot_token: refused by Slack (token_revoked)"},
		{"invalid", `{"ok":false,"error":"invalid_auth"}`, "slack.bot_token: refused by Slack (invalid_auth)"},
		{"accepted", `{"ok":true,"user_id":"UBOT","team_id":"T1"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var methods []string
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				methods = append(methods, r.URL.Path)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.answer)
			}))
			defer api.Close()
			dir, addr := t.TempDir(), freePort(t)
			cfg := filepath.Join(dir, "switchman.yaml")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, drainYAML, addr, api.URL+"/api/", "http://127.0.0.1:9", "'true'", ""), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.wantErr == "" {
				bot := serveBot(t, cfg, addr)
				if err := bot.stop(t); err != nil {
					t.Errorf("serve: got %v, want nil", err)
				}
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := &syncbuf.Buffer{}
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"-config", cfg, "serve"}, stdio{In: strings.NewReader(""), Out: io.Discard, Err: stderr})
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("serve: got %v, want an error containing %q", err, tt.wantErr)
				}
				if strings.Contains(stderr.String(), "xoxb-test") || (err != nil && strings.Contains(err.Error(), "xoxb-test")) {
					t.Errorf("the token is in the error or the log: %v\n%s", err, stderr)
				}
			case <-time.After(30 * time.Second):
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("serve still runs 30 s after Slack refused its token (calls %q); log:\n%s", methods, stderr)
			}
		})
	}
}

// TestServeChecksDiscordToken: a Discord bot token Discord refuses stops
// the start-up with a message naming it. (TestServeSlack starts with one
// Discord accepts.)
func TestServeChecksDiscordToken(t *testing.T) {
	t.Setenv("TEST_SLACK_SIGNING_SECRET", "serve-test-secret")
	slackAPI := newSlackAPI(t)
	discordAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message": "401: Unauthorized", "code": 0}`)
	}))
	defer discordAPI.Close()
	dir, addr := t.TempDir(), freePort(t)
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, serveYAML, addr, slackAPI.srv.URL+"/api/", discordAPI.URL+"/"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", cfg, "serve"}, stdio{In: strings.NewReader(""), Out: io.Discard, Err: stderr})
	}()
	const want = "discord.bot_token: refused by Discord (401 Unauthorized)"
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("serve: got %v, want an error containing %q", err, want)
		}
		if strings.Contains(stderr.String(), "discord-test-token") || (err != nil && strings.Contains(err.Error(), "discord-test-token")) {
			t.Errorf("the token is in the error or the log: %v\n%s", err, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve still runs 30 s after Discord refused its token; log:\n%s", stderr)
	}
}

// TestServeListenTakenChangesNothing: a bot that cannot listen (its
// address taken, by another replica on the machine, say) stops before it
// opens the store, where it would mark the deploys it finds unfinished
// interrupted and report them.
func TestServeListenTakenChangesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tt := range []struct {
		name, bot, key string
	}{
		{"listen", "  listen: " + busy.Addr().String() + "\n", "bot.listen"},
		{"metrics_listen", "  listen: " + freePort(t) + "\n  metrics_listen: " + busy.Addr().String() + "\n", "bot.metrics_listen"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "switchman.yaml")
			if err := os.WriteFile(cfg, []byte("bot:\n"+tt.bot+minimalServeYAML), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := runBot(t, "", "-config", cfg, "serve")
			if err == nil || !strings.Contains(err.Error(), tt.key+":") || !strings.Contains(err.Error(), "address already in use") {
				t.Errorf("got %v, want an error naming %s and the address in use", err, tt.key)
			}
			if _, err := os.Stat(filepath.Join(dir, "state.db")); err == nil {
				t.Error("the store was opened before the bot found it could not listen")
			}
		})
	}
}

// minimalServeYAML is a config for serve without chat platforms, after
// its bot section.
const minimalServeYAML = "store:\n  path: state.db\napps:\n  web:\n    artifact:\n      path: artifacts/{app}-{build}.tar.gz\n" +
	"    path: srv/web\n    restart: 'true'\n    environments:\n      prod:\n        hosts: [localhost]\n"

// TestServeMetricsListen: with bot.metrics_listen, /metrics is served
// there and not on bot.listen, which faces Slack and Discord.
func TestServeMetricsListen(t *testing.T) {
	dir, addr, metricsAddr := t.TempDir(), freePort(t), freePort(t)
	cfg := filepath.Join(dir, "switchman.yaml")
	yaml := "bot:\n  listen: " + addr + "\n  metrics_listen: " + metricsAddr + "\n" + minimalServeYAML
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	bot := serveBot(t, cfg, addr)
	// The bot takes bot.metrics_listen over after bot.listen, whose
	// /healthz serveBot waited for: until then, it answers as a bot that
	// is starting.
	pollHTTP(t, "http://"+metricsAddr+"/healthz", func(code int, _ string) bool { return code == http.StatusOK })
	for _, tt := range []struct {
		name, url string
		want      int
		holds     string
	}{
		{"metrics on bot.listen", bot.base + "/metrics", http.StatusNotFound, ""},
		{"metrics on bot.metrics_listen", "http://" + metricsAddr + "/metrics", http.StatusOK, "switchman_http_requests_total"},
		{"healthz on bot.metrics_listen", "http://" + metricsAddr + "/healthz", http.StatusOK, `"store":"ok"`},
		{"refusals counted from 0", "http://" + metricsAddr + "/metrics", http.StatusOK, `switchman_commands_refused_total{reason="forbidden"} 0`},
		{"build info", "http://" + metricsAddr + "/metrics", http.StatusOK, `switchman_build_info{goversion="` + runtime.Version() + `",version="` + version + `"} 1`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.holds) {
				t.Errorf("GET %s: got %d\n%s\nwant %d holding %q", tt.url, resp.StatusCode, b, tt.want, tt.holds)
			}
		})
	}
	if err := bot.stop(t); err != nil {
		t.Errorf("serve: got %v, want nil after a shutdown", err)
	}
}

// TestServeRegistersDiscordChoices: the slash commands serve registers
// offer the config's apps, envs and trains as choices.
func TestServeRegistersDiscordChoices(t *testing.T) {
	t.Setenv("TEST_SLACK_SIGNING_SECRET", "serve-test-secret")
	slackAPI := newSlackAPI(t)
	registered := make(chan []byte, 1)
	discordAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/commands") {
			body, _ := io.ReadAll(r.Body)
			select {
			case registered <- body:
			default:
			}
			io.WriteString(w, "[]")
			return
		}
		io.WriteString(w, `{"id": "1", "username": "switchman"}`)
	}))
	defer discordAPI.Close()
	dir, addr := t.TempDir(), freePort(t)
	cfg := filepath.Join(dir, "switchman.yaml")
	yaml := fmt.Sprintf(serveYAML, addr, slackAPI.srv.URL+"/api/", discordAPI.URL+"/") +
		"trains:\n  daily:\n    env: prod\n    channels: [\"#releases\"]\n    timezone: UTC\n" +
		"    boarding: \"0 10 * * 1-5\"\n    departure: \"0 14 * * 1-5\"\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	bot := startServe(t, cfg, addr)
	var body []byte
	select {
	case body = <-registered:
	case err := <-bot.done:
		t.Fatalf("serve stopped before registering the slash commands: %v; log:\n%s", err, bot.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("no slash commands registered within 30 s; log:\n%s", bot.stderr)
	}
	var cmds []struct {
		Name    string `json:"name"`
		Options []struct {
			Name    string `json:"name"`
			Options []struct {
				Name    string `json:"name"`
				Choices []struct {
					Value string `json:"value"`
				} `json:"choices"`
			} `json:"options"`
			Choices []struct {
				Value string `json:"value"`
			} `json:"choices"`
		} `json:"options"`
	}
	if err := json.Unmarshal(body, &cmds); err != nil {
		t.Fatalf("registered commands %s: %v", body, err)
	}
	got := map[string]string{}
	for _, c := range cmds {
		for _, o := range c.Options {
			var vs []string
			for _, ch := range o.Choices {
				vs = append(vs, ch.Value)
			}
			got["/"+c.Name+" "+o.Name] = strings.Join(vs, ",")
			for _, so := range o.Options {
				var vs []string
				for _, ch := range so.Choices {
					vs = append(vs, ch.Value)
				}
				got["/"+c.Name+" "+o.Name+" "+so.Name] = strings.Join(vs, ",")
			}
		}
	}
	for opt, want := range map[string]string{
		"/deploy app":         "web",
		"/deploy env":         "prod",
		"/train board train":  "daily",
		"/train depart train": "daily",
		"/train leave train":  "daily",
		"/train cancel train": "daily",
		"/rollback app":       "web",
	} {
		if got[opt] != want {
			t.Errorf("%s: choices %q, want %q", opt, got[opt], want)
		}
	}
	if err := bot.stop(t); err != nil {
		t.Errorf("serve: %v", err)
	}
}
