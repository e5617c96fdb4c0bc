package slack_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack/socketmode"

	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/config"
)

// socketServer is the Socket Mode side of the fake Slack: it says hello
// when the bot connects, sends envelopes, and collects the acks.
type socketServer struct {
	t     *testing.T
	conns chan *websocket.Conn
	pongs chan struct{}
	mu    sync.Mutex
	acks  map[string][]json.RawMessage // envelope id → ack payloads
}

func newSocketServer(t *testing.T, api *fakeSlack) *socketServer {
	s := &socketServer{t: t, conns: make(chan *websocket.Conn, 1), pongs: make(chan struct{}, 1), acks: map[string][]json.RawMessage{}}
	up := websocket.Upgrader{CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "https://api.slack.com" }}
	api.ws = func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		c.SetPongHandler(func(string) error {
			s.pongs <- struct{}{}
			return nil
		})
		if err := c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1,
			"connection_info": map[string]any{"app_id": "A1"}, "debug_info": map[string]any{"host": "local"}}); err != nil {
			t.Errorf("hello: %v", err)
		}
		go func() {
			for {
				var ack struct {
					EnvelopeID string          `json:"envelope_id"`
					Payload    json.RawMessage `json:"payload"`
				}
				if err := c.ReadJSON(&ack); err != nil {
					return
				}
				s.mu.Lock()
				s.acks[ack.EnvelopeID] = append(s.acks[ack.EnvelopeID], ack.Payload)
				s.mu.Unlock()
			}
		}()
		s.conns <- c
	}
	return s
}

func (s *socketServer) ack(id string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks[id]
}

// received waits until the bot has read everything sent to it on conn
// so far: it answers a ping once it has read the frames before it.
func (s *socketServer) received(conn *websocket.Conn) {
	s.t.Helper()
	if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.pongs:
	case <-time.After(10 * time.Second):
		s.t.Fatal("the bot did not answer a ping")
	}
}

// send writes one envelope to the bot.
func send(t *testing.T, conn *websocket.Conn, id, typ string, payload json.RawMessage) {
	t.Helper()
	msg := map[string]any{"envelope_id": id, "type": typ, "payload": payload, "accepts_response_payload": typ == "slash_commands"}
	if err := conn.WriteJSON(msg); err != nil {
		t.Fatal(err)
	}
}

func TestSocketMode(t *testing.T) {
	api := newFakeSlack(t)
	ss := newSocketServer(t, api)
	a, h, _, _ := newTestAdapter(t, api, time.Now(), socketMode(api))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunSocketMode(ctx) }()
	var conn *websocket.Conn
	select {
	case conn = <-ss.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not connect")
	}

	slash := json.RawMessage(`{"command":"/deploy","text":"web 1","user_id":"UBOB","channel_id":"C1","trigger_id":"TS1","response_url":""}`)
	click := json.RawMessage(`{"type":"block_actions","trigger_id":"TS2","user":{"id":"UCARL"},"channel":{"id":"C1"},"actions":[{"action_id":"switchman:rollback web prod","value":"rollback web prod"}]}`)
	mention := json.RawMessage(`{"type":"event_callback","event_id":"EvS1","event":{"type":"app_mention","user":"UANA","text":"<@UBOT> status","channel":"C1"}}`)
	envelopes := []struct {
		id, typ string
		payload json.RawMessage
		retry   int
	}{
		{"E1", "slash_commands", slash, 0},
		{"E1", "slash_commands", slash, 0}, // the same envelope again
		{"E2", "slash_commands", slash, 0}, // the same command in another envelope
		{"E3", "interactive", click, 0},    // a click
		{"E4", "events_api", mention, 0},   // a mention
		{"E5", "events_api", mention, 1},   // Slack's retry of it
		// What the Socket Mode client cannot parse is acknowledged all the
		// same, or Slack would send it again and again.
		{"E6", "a_type_of_tomorrow", json.RawMessage(`{}`), 0},
		{"E7", "slash_commands", json.RawMessage(`{"command": 7}`), 0},
	}
	for _, e := range envelopes {
		msg := map[string]any{"envelope_id": e.id, "type": e.typ, "payload": e.payload, "accepts_response_payload": e.typ == "slash_commands", "retry_attempt": e.retry}
		if err := conn.WriteJSON(msg); err != nil {
			t.Fatal(err)
		}
	}
	for id, n := range map[string]int{"E1": 2, "E2": 1, "E3": 1, "E4": 1, "E5": 1, "E6": 1, "E7": 1} {
		waitUntil(t, "the acks of "+id, func() bool { return len(ss.ack(id)) == n })
	}
	// One E1 says "working on it"; the redelivered one, and E2 with the
	// same command, say nothing.
	notices := 0
	for _, id := range []string{"E1", "E2"} {
		for _, p := range ss.ack(id) {
			if jsonHas(p, "text", "⏳ working on it…") {
				notices++
			}
		}
	}
	if a := ss.ack("E7"); len(a) != 1 || !jsonHas(a[0], "text", "Switchman could not read this command; nothing was run.") {
		t.Errorf("ack of an unreadable slash command: %s; want it to say nothing was run", a)
	}
	if notices != 1 {
		t.Errorf("acks of E1 and E2: got %d working-on-it notices, want 1 (E1: %s, E2: %s)", notices, ss.ack("E1"), ss.ack("E2"))
	}

	endSocket(t, cancel, done)
	a.Stop()
	a.Wait()
	want := map[string]int{"deploy web 1": 1, "rollback web prod": 1, "<@UBOT> status": 1}
	h.mu.Lock()
	defer h.mu.Unlock()
	for text, n := range want {
		if h.runs[text] != n {
			t.Errorf("runs of %q: got %d, want %d", text, h.runs[text], n)
		}
	}
	if len(h.reqs) != 3 {
		t.Errorf("runs: got %d (%v), want 3", len(h.reqs), h.runs)
	}
	users := map[string]string{}
	for _, r := range h.reqs {
		users[r.Text] = r.User
	}
	if users["rollback web prod"] != "carl" || users["deploy web 1"] != "bob" || users["<@UBOT> status"] != "ana" {
		t.Errorf("users: got %v, want each command as the Slack user who sent it", users)
	}
}

// holdLog is a slog.Handler that holds the first goroutine logging msg
// until release is closed, closing held when it does.
type holdLog struct {
	slog.Handler
	msg     string
	once    *sync.Once
	held    chan struct{}
	release chan struct{}
}

func (h holdLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() {
			close(h.held)
			<-h.release
		})
	}
	return h.Handler.Handle(ctx, r)
}

func (h holdLog) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func (h holdLog) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	return h
}

// TestSocketModeStopAnswersReceivedEnvelopes: envelopes the bot has
// received but not yet taken when it is told to stop are not dropped.
// Each is refused as at any stop: acknowledged (a slash command's
// acknowledgement saying nothing was run, the others' senders told so
// ephemerally) and audited as not run. The bot is held busy logging an
// unreadable envelope while the others arrive and the stop comes.
func TestSocketModeStopAnswersReceivedEnvelopes(t *testing.T) {
	api := newFakeSlack(t)
	ss := newSocketServer(t, api)
	hold := holdLog{msg: "slack socket mode: unreadable envelope", once: &sync.Once{}, held: make(chan struct{}), release: make(chan struct{})}
	a, h, _, logs := newTestAdapter(t, api, time.Now(), socketMode(api), func(o *slack.Options) {
		hold.Handler = o.Log.Handler()
		o.Log = slog.New(hold)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.RunSocketMode(ctx) }()
	var conn *websocket.Conn
	select {
	case conn = <-ss.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not connect")
	}

	send(t, conn, "E0", "a_type_of_tomorrow", json.RawMessage(`{}`))
	select {
	case <-hold.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not take the unreadable envelope")
	}
	queued := []struct {
		id, typ, user, text string
		payload             json.RawMessage
	}{
		{"E10", "slash_commands", "bob", "deploy web 1",
			json.RawMessage(`{"command":"/deploy","text":"web 1","user_id":"UBOB","channel_id":"C1","trigger_id":"TQ1","response_url":""}`)},
		{"E11", "interactive", "carl", "rollback web prod",
			json.RawMessage(`{"type":"block_actions","trigger_id":"TQ2","user":{"id":"UCARL"},"channel":{"id":"C1"},"actions":[{"action_id":"switchman:rollback web prod","value":"rollback web prod"}]}`)},
		{"E12", "events_api", "ana", "<@UBOT> status",
			json.RawMessage(`{"type":"event_callback","event_id":"EvQ1","event":{"type":"app_mention","user":"UANA","text":"<@UBOT> status","channel":"C1"}}`)},
	}
	for _, q := range queued {
		send(t, conn, q.id, q.typ, q.payload)
	}
	ss.received(conn)
	cancel()
	close(hold.release)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunSocketMode: got %v, want nil after ctx ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunSocketMode did not return after ctx ended")
	}

	for _, id := range []string{"E0", "E10", "E11", "E12"} {
		if got := ss.ack(id); len(got) != 1 {
			t.Errorf("acks of %s: got %d, want 1", id, len(got))
		}
	}
	if got := ss.ack("E10"); len(got) == 1 && !jsonHas(got[0], "text", "Switchman is restarting, so nothing was run. Try again in a minute.") {
		t.Errorf("ack of the slash command: got %s, want it to say nothing was run", got[0])
	}
	if n := h.total(); n != 0 {
		t.Errorf("runs: got %d (%v), want none once the bot is stopping", n, h.requests())
	}
	waitUntil(t, "the refusals audited", func() bool { return len(h.Audited()) == len(queued) })
	audited := map[string]string{}
	for _, r := range h.Audited() {
		audited[r.User+" "+r.Text] = r.Refused
	}
	for _, q := range queued {
		if got := audited[q.user+" "+q.text]; got != "Switchman was stopping; nothing was run" {
			t.Errorf("audit of %s's %q: got refused %q, want it refused as the bot was stopping (all: %v)", q.user, q.text, got, audited)
		}
	}
	// The click and the mention were acknowledged without a message: their
	// senders are told ephemerally.
	api.waitFor("the notices of the click and the mention", func(c []apiCall) bool { return len(only(c, "chat.postEphemeral")) == 2 })
	for _, c := range only(api.snapshot(), "chat.postEphemeral") {
		if (c.User != "UCARL" && c.User != "UANA") || !strings.Contains(c.Text, "nothing was run") {
			t.Errorf("notice: got %+v, want carl and ana told that nothing was run", c)
		}
	}
	if strings.Contains(logs.String(), "ack failed") {
		t.Errorf("log: got a failed ack:\n%s", logs.String())
	}
}

func slackSocketConfig(apiURL string) config.Slack {
	return config.Slack{BotToken: "xoxb-test", AppToken: "xapp-test", SocketMode: true, APIURL: apiURL}
}

// socketMode is the newTestAdapter option of an adapter in Socket Mode
// against api, on the real clock (the socket's reconnection waits run on
// it).
func socketMode(api *fakeSlack) func(*slack.Options) {
	return func(o *slack.Options) {
		o.Config.Slack = slackSocketConfig(api.apiURL())
		o.Now = time.Now
	}
}

func jsonHas(raw json.RawMessage, key, want string) bool {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	return m[key] == want
}

// TestSocketModeRetryOfUnacknowledgedRefusal: a mention received as the
// socket closes is refused without an acknowledgement, so Slack delivers
// it again, minutes later perhaps, to the next bot. Its sender was told
// that nothing was run, so that retry is dropped as a duplicate, not run.
func TestSocketModeRetryOfUnacknowledgedRefusal(t *testing.T) {
	api := newFakeSlack(t)
	ss := newSocketServer(t, api)
	socket := socketMode(api)
	mention := json.RawMessage(`{"type":"event_callback","event_id":"EvL1","event":{"type":"app_mention","user":"UANA","text":"<@UBOT> status","channel":"C1"}}`)

	stopping, h1, store, _ := newTestAdapter(t, api, time.Now(), socket)
	stopping.RefuseLeft(context.Background(), socketmode.Request{Type: socketmode.RequestTypeEventsAPI, EnvelopeID: "E30", Payload: mention})
	waitUntil(t, "the refusal audited", func() bool { return len(h1.Audited()) == 1 })
	if got := h1.Audited()[0]; got.User != "ana" || got.Text != "<@UBOT> status" || got.Refused != "Switchman was stopping; nothing was run" {
		t.Errorf("audited %+v, want ana's mention refused as the bot was stopping", got)
	}
	if got := only(api.snapshot(), "chat.postEphemeral"); len(got) != 1 || got[0].User != "UANA" || !strings.Contains(got[0].Text, "nothing was run") {
		t.Errorf("notices %+v, want ana told that nothing was run", got)
	}
	stopping.Stop()
	stopping.Wait()
	stopping.Close()

	next, h2, _, _ := newTestAdapter(t, api, time.Now(), socket, func(o *slack.Options) { o.Dedupe = store })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- next.RunSocketMode(ctx) }()
	var conn *websocket.Conn
	select {
	case conn = <-ss.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the bot did not connect")
	}
	if err := conn.WriteJSON(map[string]any{"envelope_id": "E31", "type": "events_api", "payload": mention,
		"retry_attempt": 1, "retry_reason": "timeout"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the retry acknowledged", func() bool { return len(ss.ack("E31")) == 1 })
	endSocket(t, cancel, done)
	next.Stop()
	next.Wait()
	if n := h2.total(); n != 0 {
		t.Errorf("runs: got %d (%v), want none: the retry's sender was told nothing was run", n, h2.requests())
	}
	if got := h2.Audited(); len(got) != 0 {
		t.Errorf("audited %+v, want nothing: the retry is a duplicate", got)
	}
	if got := only(api.snapshot(), "chat.postEphemeral"); len(got) != 1 {
		t.Errorf("notices %+v, want only the first: the retry is dropped silently", got)
	}
}

// TestSocketModeRetryAtStopOfARunEvent: the retry of an event that ran,
// left in the client as the socket closed, is dropped as a duplicate:
// neither audited as refused nor answered with "nothing was run".
func TestSocketModeRetryAtStopOfARunEvent(t *testing.T) {
	api := newFakeSlack(t)
	mention := `{"type":"event_callback","event_id":"EvR1","event":{"type":"app_mention","user":"UANA","text":"<@UBOT> status","channel":"C1"}}`
	first, h1, store, _ := newTestAdapter(t, api, now)
	w := httptest.NewRecorder()
	first.Events().ServeHTTP(w, signed(t, "/slack/events", testSecret, mention, now, "application/json"))
	if w.Code != 200 {
		t.Fatalf("event: got %d, want 200", w.Code)
	}
	first.Stop()
	first.Wait()
	if n := h1.total(); n != 1 {
		t.Fatalf("runs of the first delivery: got %d, want 1", n)
	}

	stopping, h2, _, _ := newTestAdapter(t, api, time.Now(), socketMode(api), func(o *slack.Options) {
		o.Dedupe = store
	})
	stopping.RefuseLeft(context.Background(), socketmode.Request{Type: socketmode.RequestTypeEventsAPI, EnvelopeID: "E50",
		RetryAttempt: 1, RetryReason: "timeout", Payload: json.RawMessage(mention)})
	stopping.Stop()
	stopping.Wait()
	if got := h2.Audited(); len(got) != 0 {
		t.Errorf("audited %+v, want nothing: the retry is a duplicate", got)
	}
	for _, c := range only(api.snapshot(), "chat.postEphemeral") {
		if strings.Contains(c.Text, "nothing was run") {
			t.Errorf("notice %q to %s: the retry of an event that ran is dropped silently", c.Text, c.User)
		}
	}
}

// endSocket ends a RunSocketMode by cancel and checks that it returned
// nil on done, within 10 s.
func endSocket(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunSocketMode: got %v, want nil after ctx ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunSocketMode did not return after ctx ended")
	}
}
