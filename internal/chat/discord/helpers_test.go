package discord

// The tests run the adapter against fakeDiscord, an httptest server on
// 127.0.0.1 that answers Discord's REST endpoints and records every call;
// discordgo's HTTP client reaches it through a Transport that sends
// discord.com there and refuses every other host.
//
// Golden files live in testdata/. After an intended change, rewrite them
// with:
//
//	go test ./internal/chat/discord/ -update
//
// and review the diff.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/chattest"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	testAppID    = "100000000000000001"
	testGuildID  = "200000000000000002"
	testChannel  = "300000000000000003"
	testBotToken = "test-bot-token-do-not-log"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run go test ./internal/chat/discord/ -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s\nwant:\n%s", name, got, want)
	}
}

// apiCall is one request fakeDiscord received.
type apiCall struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Auth   string          `json:"auth,omitempty"` // "bot" when the bot token was sent
	Body   json.RawMessage `json:"body,omitempty"`
	Status int             `json:"status"`
	at     time.Time
}

// fakeDiscord is a local stand-in for Discord's REST API.
type fakeDiscord struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	calls      []apiCall
	ids        int
	gatewayURL string
	// respond, when set, may answer a call instead of the defaults.
	respond func(c apiCall, n int) (status int, body string, ok bool)
	// hijack, when set and true for a call, drops the connection.
	hijack func(c apiCall) bool
	// header, when set, adds headers to the answer to a call.
	header func(c apiCall) http.Header
}

func newFakeDiscord(t *testing.T) *fakeDiscord {
	t.Helper()
	fd := &fakeDiscord{t: t}
	fd.srv = httptest.NewServer(http.HandlerFunc(fd.serve))
	t.Cleanup(fd.srv.Close)
	return fd
}

func (fd *fakeDiscord) serve(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := apiCall{Method: r.Method, Path: r.URL.Path, at: time.Now()}
	if r.URL.RawQuery != "" {
		c.Path += "?" + r.URL.RawQuery
	}
	switch auth := r.Header.Get("Authorization"); auth {
	case "":
	case "Bot " + testBotToken:
		c.Auth = "bot"
	default:
		c.Auth = "unexpected"
	}
	if body.Len() > 0 {
		var v any
		if err := json.Unmarshal(body.Bytes(), &v); err != nil {
			fd.t.Errorf("%s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
		}
		var canon bytes.Buffer
		enc := json.NewEncoder(&canon)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			fd.t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
		}
		c.Body = bytes.TrimSpace(canon.Bytes())
	}
	fd.mu.Lock()
	n := len(fd.calls)
	status, resp := fd.answer(c, n)
	if fd.hijack != nil && fd.hijack(c) {
		c.Status = -1
		fd.calls = append(fd.calls, c)
		fd.mu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	c.Status = status
	fd.calls = append(fd.calls, c)
	if fd.header != nil {
		for k, v := range fd.header(c) {
			w.Header()[k] = v
		}
	}
	fd.mu.Unlock()
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	fmt.Fprint(w, resp)
}

// answer returns Discord's answer to c; fd.mu is held.
func (fd *fakeDiscord) answer(c apiCall, n int) (int, string) {
	if fd.respond != nil {
		if status, body, ok := fd.respond(c, n); ok {
			return status, body
		}
	}
	if c.Method == http.MethodPost || c.Method == http.MethodPatch {
		// Discord refuses the whole message when it is over one limit.
		if msg := formError(c.Body); msg != "" {
			return http.StatusBadRequest, msg
		}
	}
	p := strings.TrimPrefix(c.Path, "/api/v9/")
	p, _, _ = strings.Cut(p, "?")
	parts := strings.Split(p, "/")
	switch {
	case c.Method == http.MethodGet && p == "gateway":
		return http.StatusOK, fmt.Sprintf(`{"url":%q}`, fd.gatewayURL)
	case c.Method == http.MethodPost && len(parts) == 4 && parts[0] == "interactions" && parts[3] == "callback":
		return http.StatusNoContent, ""
	case c.Method == http.MethodPatch && len(parts) == 5 && parts[0] == "webhooks":
		return http.StatusOK, fmt.Sprintf(`{"id":%q,"channel_id":%q}`, strings.TrimPrefix(parts[4], "@"), testChannel)
	case c.Method == http.MethodDelete && len(parts) == 5 && parts[0] == "webhooks":
		return http.StatusNoContent, ""
	case c.Method == http.MethodPost && len(parts) == 3 && parts[0] == "webhooks":
		fd.ids++
		return http.StatusOK, fmt.Sprintf(`{"id":"followup-%d","channel_id":%q}`, fd.ids, testChannel)
	case c.Method == http.MethodPost && len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		fd.ids++
		return http.StatusOK, fmt.Sprintf(`{"id":"message-%d","channel_id":%q}`, fd.ids, parts[1])
	case c.Method == http.MethodPatch && len(parts) == 4 && parts[0] == "channels" && parts[2] == "messages":
		return http.StatusOK, fmt.Sprintf(`{"id":%q,"channel_id":%q}`, parts[3], parts[1])
	case c.Method == http.MethodPut && parts[0] == "applications" && parts[len(parts)-1] == "commands":
		if len(c.Body) == 0 {
			return http.StatusBadRequest, `{"message":"no body"}`
		}
		return http.StatusOK, string(c.Body)
	}
	return http.StatusNotFound, `{"message":"Unknown route","code":0}`
}

// Calls returns a copy of the calls so far.
func (fd *fakeDiscord) Calls() []apiCall {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return append([]apiCall(nil), fd.calls...)
}

// waitCalls waits until at least n calls arrived and returns them.
func (fd *fakeDiscord) waitCalls(t *testing.T, n int) []apiCall {
	t.Helper()
	var calls []apiCall
	waitFor(t, fmt.Sprintf("%d REST calls", n), func() bool {
		calls = fd.Calls()
		return len(calls) >= n
	})
	return calls
}

// client returns an HTTP client that sends discord.com requests to fd and
// refuses any other host.
func (fd *fakeDiscord) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: routeTransport{to: fd.srv.Listener.Addr().String()}}
}

type routeTransport struct{ to string }

func (rt routeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "discord.com" {
		return nil, fmt.Errorf("test transport: refusing a request to %s", r.URL.Host)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = "http", rt.to
	return http.DefaultTransport.RoundTrip(r)
}

// waitFor polls cond until it holds or 30 seconds pass, longer than a
// refused interaction's audit write may take (refusals.Timeout).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeHandler stands in for commands.Service, and keeps the refusals it
// is asked to audit.
type fakeHandler struct {
	chattest.Refusals
	mu   sync.Mutex
	reqs []commands.Request
	outs []commands.Output
	fn   func(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome
	// undelivered holds the notes of final reports posted nowhere.
	undelivered []commands.Undelivered
	// dropped holds the replies audited as sent nowhere.
	dropped []droppedReply
}

type droppedReply struct {
	req        commands.Request
	title, why string
}

func (h *fakeHandler) AuditDroppedReply(_ context.Context, req commands.Request, title, why string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropped = append(h.dropped, droppedReply{req: req, title: title, why: why})
	return nil
}

func (h *fakeHandler) DroppedReplies() []droppedReply {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]droppedReply(nil), h.dropped...)
}

func (h *fakeHandler) NoteUndelivered(u commands.Undelivered) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.undelivered = append(h.undelivered, u)
}

func (h *fakeHandler) Undelivered() []commands.Undelivered {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]commands.Undelivered(nil), h.undelivered...)
}

func (h *fakeHandler) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	var res commands.Outcome
	switch {
	case req.Refused != "":
		// As commands.Service does: refuse (and audit) without parsing.
		out.Reply(chat.Message{Level: chat.Failure, Title: req.Refused})
		res.Failed = true
	case h.fn != nil:
		res = h.fn(ctx, req, out)
	}
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.outs = append(h.outs, out)
	h.mu.Unlock()
	return res
}

func (h *fakeHandler) Requests() []commands.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]commands.Request(nil), h.reqs...)
}

// waitOut waits until Handle returned n times and returns the nth Output.
func (h *fakeHandler) waitOut(t *testing.T, n int) commands.Output {
	t.Helper()
	var out commands.Output
	waitFor(t, fmt.Sprintf("handled command #%d", n), func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.outs) < n {
			return false
		}
		out = h.outs[n-1]
		return true
	})
	return out
}

// harness is an Adapter wired to fakes.
type harness struct {
	a       *Adapter
	fd      *fakeDiscord
	h       *fakeHandler
	clock   *testclock.Clock
	priv    ed25519.PrivateKey
	logs    *syncbuf.Buffer
	options Options
}

// newHarness returns a harness; edit adjusts the Options before New.
func newHarness(t *testing.T, h *fakeHandler, edit func(*Options)) *harness {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fd := newFakeDiscord(t)
	if h == nil {
		h = &fakeHandler{}
	}
	hs := &harness{fd: fd, h: h, priv: priv, logs: &syncbuf.Buffer{},
		clock: testclock.New(time.Date(2025, 3, 14, 14, 2, 0, 0, time.UTC))}
	opt := Options{
		PublicKey:     hex.EncodeToString(pub),
		BotToken:      testBotToken,
		ApplicationID: testAppID,
		GuildID:       testGuildID,
		HTTPClient:    fd.client(),
		Users:         map[string]string{"111": "ana", "222": "bob"},
		Handler:       h,
		Now:           hs.clock.Now,
		Log:           slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		EditInterval:  20 * time.Millisecond,
	}
	if edit != nil {
		edit(&opt)
	}
	hs.options = opt
	a, err := New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs.a = a
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if logs := hs.logs.String(); strings.Contains(logs, testBotToken) {
			t.Errorf("the logs hold the bot token:\n%s", logs)
		}
	})
	return hs
}

// shutdown waits for every command and progress message to finish.
func (hs *harness) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.a.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// sign returns the signature headers of body at the harness's time.
func (hs *harness) sign(body []byte, at time.Time) (sig, ts string) {
	ts = fmt.Sprint(at.Unix())
	return hex.EncodeToString(ed25519.Sign(hs.priv, append([]byte(ts), body...))), ts
}

// post sends a signed interaction to the endpoint.
func (hs *harness) post(t *testing.T, payload any) *httptest.ResponseRecorder {
	t.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, ts := hs.sign(body, hs.clock.Now())
	return hs.postRaw(body, sig, ts)
}

func (hs *harness) postRaw(body []byte, sig, ts string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	hs.serve(w, body, sig, ts)
	return w
}

// serve hands a request with body, signed by sig at ts, to the endpoint,
// which answers through w.
func (hs *harness) serve(w http.ResponseWriter, body []byte, sig, ts string) {
	r := httptest.NewRequest(http.MethodPost, "/discord/interactions", bytes.NewReader(body))
	if sig != "" {
		r.Header.Set(headerSignature, sig)
	}
	if ts != "" {
		r.Header.Set(headerTimestamp, ts)
	}
	hs.a.ServeHTTP(w, r)
}

// interactionToken is the token of interaction id; it must never be logged.
func interactionToken(id string) string { return "itok-" + id + "-secret" }

// slashCommand is the payload of a slash command invocation in the test
// guild by Discord user userID.
func slashCommand(id, userID, name string, opts ...map[string]any) map[string]any {
	if opts == nil {
		opts = []map[string]any{}
	}
	return map[string]any{
		"id": id, "application_id": testAppID, "type": 2, "token": interactionToken(id), "version": 1,
		"guild_id": testGuildID, "channel_id": testChannel,
		"member": map[string]any{"user": map[string]any{"id": userID, "username": "user" + userID}},
		"data":   map[string]any{"id": "900", "name": name, "type": 1, "options": opts},
	}
}

// opt is one slash command option value.
func opt(name string, typ int, value any) map[string]any {
	return map[string]any{"name": name, "type": typ, "value": value}
}

// buttonClick is the payload of a click on a button with customID.
func buttonClick(id, userID, customID string) map[string]any {
	return map[string]any{
		"id": id, "application_id": testAppID, "type": 3, "token": interactionToken(id), "version": 1,
		"guild_id": testGuildID, "channel_id": testChannel,
		"member":  map[string]any{"user": map[string]any{"id": userID, "username": "user" + userID}},
		"message": map[string]any{"id": "555", "channel_id": testChannel},
		"data":    map[string]any{"custom_id": customID, "component_type": 2},
	}
}

// transcript renders calls for a golden file.
func transcript(t *testing.T, calls []apiCall) []byte {
	t.Helper()
	return indentJSON(t, calls)
}

// indentJSON is v as indented JSON with a final newline, "<" and ">" left
// as they are so golden files read easily.
func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// responseOf decodes an interaction response.
func responseOf(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %q", w.Code, w.Body.String())
	}
	var v map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("response is not JSON: %v: %q", err, w.Body.String())
	}
	return v
}

// record is a deploy record for events.
func record(id string, kind deploy.Kind, outcome deploy.Outcome, started time.Time) *deploy.Record {
	r := &deploy.Record{ID: id, Kind: kind, App: "web", Env: "prod", Build: "1337", Previous: "1336",
		Requester: "ana", Platform: Platform, Channel: testChannel, Started: started, Outcome: outcome,
		Hosts: []deploy.HostResult{{Host: "web-1", State: deploy.HostPending}, {Host: "web-2", State: deploy.HostPending}}}
	if outcome.Done() {
		r.Finished = started.Add(42 * time.Second)
		for i := range r.Hosts {
			r.Hosts[i].State, r.Hosts[i].Current = deploy.HostActive, "1337"
		}
	}
	return r
}

// deployHandler replies like Service does to a deploy it started.
func deployHandler(id string) *fakeHandler {
	return &fakeHandler{fn: func(_ context.Context, req commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "Deploying web 1337 to prod (deploy " + id + ")"})
		return commands.Outcome{DeployID: id}
	}}
}

var errStore = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// errRefusing is a duplicate check's error from a Redis at maxmemory, as
// the Redis store words it.
var errRefusing = errs.New(errs.Unavailable, "state store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed when used memory > 'maxmemory'.")
