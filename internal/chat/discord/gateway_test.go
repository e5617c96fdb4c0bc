package discord

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// fakeGateway is a local stand-in for Discord's gateway: hello, READY,
// then the interactions it is given as INTERACTION_CREATE dispatches.
func fakeGateway(t *testing.T, interactions ...map[string]any) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer conn.Close()
		send := func(v any) bool {
			if err := conn.WriteJSON(v); err != nil {
				t.Errorf("gateway write: %v", err)
				return false
			}
			return true
		}
		if !send(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}}) {
			return
		}
		var identify struct {
			Op int `json:"op"`
			D  struct {
				Token string `json:"token"`
			} `json:"d"`
		}
		if err := conn.ReadJSON(&identify); err != nil || identify.Op != 2 || identify.D.Token != "Bot "+testBotToken {
			t.Errorf("first message from the bot: op %d (%v), want an identify with the bot token", identify.Op, err)
			return
		}
		if !send(map[string]any{"op": 0, "t": "READY", "s": 1, "d": map[string]any{
			"v": 9, "session_id": "session-1", "user": map[string]any{"id": "999", "username": "switchman", "bot": true}, "guilds": []any{},
		}}) {
			return
		}
		for i, in := range interactions {
			if !send(map[string]any{"op": 0, "t": "INTERACTION_CREATE", "s": i + 2, "d": in}) {
				return
			}
		}
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGatewaySharesTheDispatch(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, nil)
	gw := fakeGateway(t, slashCommand("501", "111", "whoami"))
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	calls := hs.fd.waitCalls(t, 3) // GET gateway, callback, edit
	cancel()
	waitGateway(t, done)
	hs.shutdown(t)

	if got := hs.h.Requests(); len(got) != 1 || got[0].User != "ana" || got[0].Text != "whoami" {
		t.Errorf("requests %+v, want whoami as ana", got)
	}
	want := []string{
		"GET /api/v9/gateway",
		"POST /api/v9/interactions/501/" + interactionToken("501") + "/callback",
		"PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("501") + "/messages/@original",
	}
	calls = hs.fd.Calls()
	if len(calls) != len(want) {
		t.Fatalf("calls %s, want %v", transcript(t, calls), want)
	}
	for i, c := range calls {
		if got := c.Method + " " + c.Path; got != want[i] {
			t.Errorf("call %d: %s, want %s", i, got, want[i])
		}
	}
	var resp struct {
		Type int `json:"type"`
		Data struct {
			Flags int `json:"flags"`
		} `json:"data"`
	}
	if err := json.Unmarshal(calls[1].Body, &resp); err != nil || resp.Type != 5 || resp.Data.Flags != 64 {
		t.Errorf("callback %s, want a deferred ephemeral response", calls[1].Body)
	}
}

// stopOnDedupe is the bot's store as the Deduper; with stop set, the
// first check is where the bot is told to stop, as SIGTERM does: the
// gateway's context ends, and Shutdown is called (the drain that
// follows) before the check answers.
type stopOnDedupe struct {
	store *embedded.Store
	stop  func()
}

func (d *stopOnDedupe) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if d.stop != nil {
		d.stop()
		d.stop = nil
	}
	return d.store.SetOnce(ctx, key, ttl)
}

// TestGatewayAnswersAsTheBotStops: an interaction that arrives as the
// bot is told to stop is still answered, and its command run before
// Shutdown returns; one that arrives after Shutdown is told to try
// again. Discord shows "This interaction failed" to whoever sent one
// that gets no response, and a deferred one that is never followed up
// "thinks" for 15 minutes.
func TestGatewayAnswersAsTheBotStops(t *testing.T) {
	for _, tt := range []struct {
		name     string
		early    bool   // Shutdown before the interaction arrives
		wantType int    // of the interaction's response
		want     string // in the response, or in the edit that follows
		runs     bool   // the command runs
	}{
		{name: "told to stop during the check", wantType: 5, want: "You are ana", runs: true},
		{name: "after shutdown", early: true, wantType: 4, want: "Switchman is restarting, so nothing was run"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
				out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
				return commands.Outcome{}
			}}
			dd := &stopOnDedupe{store: st}
			hs := newHarness(t, h, func(o *Options) { o.Dedupe = dd })
			shut := make(chan error, 1)
			shutdown := func() {
				go func() {
					sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer scancel()
					shut <- hs.a.Shutdown(sctx)
				}()
				waitFor(t, "Shutdown to begin", hs.a.isClosed)
			}
			if tt.early {
				shutdown()
			} else {
				dd.stop = func() { cancel(); shutdown() }
			}
			gw := fakeGateway(t, slashCommand("502", "111", "whoami"))
			hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")

			done := make(chan error, 1)
			go func() { done <- hs.a.RunGateway(ctx) }()
			callback := "POST /api/v9/interactions/502/" + interactionToken("502") + "/callback"
			var resp apiCall
			waitFor(t, "the interaction's response", func() bool {
				for _, c := range hs.fd.Calls() {
					if c.Method+" "+c.Path == callback {
						resp = c
						return true
					}
				}
				return false
			})
			cancel()
			waitGateway(t, done)
			select {
			case err := <-shut:
				if err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Shutdown did not return")
			}

			var body struct {
				Type int `json:"type"`
			}
			if err := json.Unmarshal(resp.Body, &body); err != nil || body.Type != tt.wantType || resp.Status != http.StatusNoContent {
				t.Errorf("response %s (status %d), want type %d", resp.Body, resp.Status, tt.wantType)
			}
			var said bool
			for _, c := range hs.fd.Calls() {
				said = said || strings.Contains(string(c.Body), tt.want)
			}
			if !said {
				t.Errorf("calls %s, want one saying %q", transcript(t, hs.fd.Calls()), tt.want)
			}
			if got := hs.h.Requests(); tt.runs != (len(got) == 1 && got[0].Text == "whoami") || !tt.runs && len(got) > 0 {
				t.Errorf("requests %+v, want whoami run: %v", got, tt.runs)
			}
			// One that did not run is audited as refused.
			if !tt.runs {
				waitFor(t, "the refusal audited", func() bool { return len(hs.h.Audited()) > 0 })
			}
			if got := hs.h.Audited(); tt.runs && len(got) != 0 ||
				!tt.runs && (len(got) != 1 || got[0].User != "ana" || got[0].Text != "/whoami" || !strings.Contains(got[0].Refused, "stopping")) {
				t.Errorf("audited %+v, want a refusal of ana's /whoami saying the bot was stopping: %v", got, !tt.runs)
			}
		})
	}
}

// waitGateway waits for RunGateway, whose context has ended, to return
// its error on done.
func waitGateway(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunGateway: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunGateway did not return after its context ended")
	}
}

// TestGatewayResponseFailed: a command whose first response does not
// reach Discord is not run (its sender was never told it would be, and
// Discord shows "This interaction failed"), and is audited as refused
// with the reason. In case Discord did take the response, which it then
// shows as "thinking…", that is replaced by a notice that nothing ran.
func TestGatewayResponseFailed(t *testing.T) {
	callback := "/api/v9/interactions/503/" + interactionToken("503") + "/callback"
	for _, tt := range []struct {
		name string
		fail func(fd *fakeDiscord)
	}{
		{"connection dropped", func(fd *fakeDiscord) {
			fd.hijack = func(c apiCall) bool { return c.Path == callback }
		}},
		{"refused by Discord", func(fd *fakeDiscord) {
			fd.respond = func(c apiCall, _ int) (int, string, bool) {
				if c.Path == callback {
					return http.StatusNotFound, `{"message":"Unknown interaction","code":10062}`, true
				}
				return 0, "", false
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ran := make(chan struct{}, 1)
			h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
				ran <- struct{}{}
				out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
				return commands.Outcome{}
			}}
			hs := newHarness(t, h, nil)
			tt.fail(hs.fd)
			gw := fakeGateway(t, slashCommand("503", "111", "whoami"))
			hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- hs.a.RunGateway(ctx) }()
			waitFor(t, "the refusal audited", func() bool { return len(hs.h.Audited()) > 0 })
			cancel()
			waitGateway(t, done)
			hs.shutdown(t)

			select {
			case <-ran:
				t.Error("the command ran, want it not run when Discord did not take its first response")
			default:
			}
			if got := hs.h.Audited(); len(got) != 1 || got[0].User != "ana" || got[0].Text != "whoami" ||
				got[0].Refused != "Discord did not take the first response; nothing was run" {
				t.Errorf("audited %+v, want ana's whoami refused as its first response failed", got)
			}
			edit := "PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("503") + "/messages/@original"
			var told bool
			for _, c := range hs.fd.Calls() {
				told = told || c.Method+" "+c.Path == edit && strings.Contains(string(c.Body), "nothing was run")
			}
			if !told {
				t.Errorf("calls %s, want the response edited to say nothing was run", transcript(t, hs.fd.Calls()))
			}
		})
	}
}

// TestGatewayUnreachableAtStart: a gateway Discord cannot open yet (an
// outage, a 5xx) is tried again until it opens, rather than stopping the
// bot; one Discord refuses the token for is an error at once.
func TestGatewayUnreachableAtStart(t *testing.T) {
	tests := []struct {
		name    string
		status  int // the answer to the first GET gateway
		wantErr bool
	}{
		{"unavailable", http.StatusServiceUnavailable, false},
		{"token refused", http.StatusUnauthorized, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
				out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
				return commands.Outcome{}
			}}
			hs := newHarness(t, h, nil)
			gw := fakeGateway(t, slashCommand("530", "111", "whoami"))
			hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
			failed := false
			hs.fd.respond = func(c apiCall, _ int) (int, string, bool) {
				if c.Method == http.MethodGet && strings.HasSuffix(c.Path, "/gateway") && (!failed || tt.wantErr) {
					failed = true
					return tt.status, `{"message":"no","code":0}`, true
				}
				return 0, "", false
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- hs.a.RunGateway(ctx) }()
			if tt.wantErr {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "401") {
						t.Errorf("RunGateway: %v, want the refusal", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("RunGateway kept trying a refused token")
				}
				return
			}
			select {
			case err := <-done:
				t.Fatalf("RunGateway returned %v after one failure, want it to try again", err)
			case <-time.After(100 * time.Millisecond):
			}
			waitFor(t, "the command over the gateway", func() bool { return len(hs.h.Requests()) == 1 })
			cancel()
			waitGateway(t, done)
			hs.shutdown(t)
		})
	}
}

// droppingGateway is a gateway that takes each connection (hello,
// identify, READY) and closes it at once. onConnect runs with the
// connection's number, from 1, after READY and before the close.
func droppingGateway(t *testing.T, onConnect func(n int)) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer conn.Close()
		if err := conn.WriteJSON(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}}); err != nil {
			return
		}
		var identify map[string]any
		if err := conn.ReadJSON(&identify); err != nil {
			return
		}
		if err := conn.WriteJSON(map[string]any{"op": 0, "t": "READY", "s": 1, "d": map[string]any{
			"v": 9, "session_id": "session-1", "user": map[string]any{"id": "999", "username": "switchman", "bot": true}, "guilds": []any{},
		}}); err != nil {
			return
		}
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		onConnect(k)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestGatewayReconnectBackoff: a gateway that drops every connection at
// once is dialled again only after a pause, and the pauses double, drawn
// from their upper half; a connection that stayed up a minute starts them
// over. The pauses are counted on the harness's clock. (discordgo may
// report one loss twice, which costs one more, longer pause: the pauses
// are checked in their order, not per connection.)
func TestGatewayReconnectBackoff(t *testing.T) {
	const (
		stable = 5 // this connection stays up two minutes before it drops
		last   = 7 // the test ends at this connection
	)
	type pauseAt struct {
		conns int // connections made before the pause
		d     time.Duration
	}
	var (
		mu     sync.Mutex
		conns  int
		pauses []pauseAt
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hs *harness
	hs = newHarness(t, nil, func(o *Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			pauses = append(pauses, pauseAt{conns, d})
			mu.Unlock()
			return hs.clock.Sleep(ctx, d)
		}
	})
	gw := droppingGateway(t, func(n int) {
		mu.Lock()
		conns = n
		mu.Unlock()
		switch n {
		case stable:
			hs.clock.Advance(2 * time.Minute)
		case last:
			cancel()
		}
	})
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunGateway: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("RunGateway did not return after its context ended")
	}

	mu.Lock()
	defer mu.Unlock()
	if conns != last {
		t.Fatalf("connections: got %d, want %d", conns, last)
	}
	paused := map[int]bool{}
	k, reset := 0, false
	for i, p := range pauses {
		paused[p.conns] = true
		if p.conns == stable && !reset {
			k, reset = 0, true
		}
		c := min(time.Second<<k, time.Minute)
		if p.d < c/2 || p.d > c {
			t.Errorf("pause %d (after connection %d): got %s, want between %s and %s", i, p.conns, p.d, c/2, c)
		}
		k++
	}
	for n := 1; n < last; n++ {
		if !paused[n] {
			t.Errorf("connection %d was dropped and dialled again without a pause; pauses %v", n, pauses)
		}
	}
	if !reset {
		t.Errorf("no pause after the connection that stayed up; pauses %v", pauses)
	}
}

func TestGatewayBackoffCeiling(t *testing.T) {
	tests := []struct {
		name    string
		tries   int
		ceiling time.Duration
	}{
		{"first", 1, time.Second},
		{"second", 2, 2 * time.Second},
		{"sixth", 6, 32 * time.Second},
		{"seventh, capped", 7, time.Minute},
		{"twentieth, capped", 20, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b gatewayBackoff
			var d time.Duration
			for range tt.tries {
				d = b.next()
			}
			if d < tt.ceiling/2 || d > tt.ceiling {
				t.Errorf("got %s, want between %s and %s", d, tt.ceiling/2, tt.ceiling)
			}
			b.reset()
			if d := b.next(); d < gatewayRetryMin/2 || d > gatewayRetryMin {
				t.Errorf("after reset: got %s, want between %s and %s", d, gatewayRetryMin/2, gatewayRetryMin)
			}
		})
	}
}

// TestGatewayLossReportedTwice: discordgo's heartbeat, writing to a
// connection its reader has closed already, closes the session again and
// so reports the loss twice. The second report, of a connection that is
// reopened by then, costs no further pause or reconnect: the new
// connection stays as it is.
func TestGatewayLossReportedTwice(t *testing.T) {
	sleeps := &gatedSleep{asked: make(chan time.Duration), done: make(chan struct{})}
	hs := newHarness(t, nil, func(o *Options) { o.Sleep = sleeps.sleep })
	// Handlers run as events are emitted, so the second report has
	// reached the adapter when the test's Close returns.
	hs.a.s.SyncEvents = true
	var (
		mu    sync.Mutex
		conns int
	)
	hold := make(chan struct{})
	gw := droppingGateway(t, func(n int) {
		mu.Lock()
		conns = n
		mu.Unlock()
		if n > 1 {
			<-hold // the second connection stays up until the test ends
		}
	})
	t.Cleanup(func() { close(hold) })
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()

	select {
	case <-sleeps.asked: // the first connection was lost
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for the pause after the first connection was lost")
	}
	// The heartbeat's Close, as discordgo makes it: the connection is
	// gone already, so it only reports the loss again.
	if err := hs.a.s.Close(); err != nil {
		t.Fatal(err)
	}
	sleeps.done <- struct{}{}

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(hs.logs.String(), "disconnect of a connection already reopened; ignored") {
		select {
		case d := <-sleeps.asked:
			t.Fatalf("paused %s again, for the loss already handled", d)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the second report to be ignored; logs:\n%s", hs.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	waitGateway(t, done)
	mu.Lock()
	defer mu.Unlock()
	if conns != 2 {
		t.Errorf("connections: got %d, want 2", conns)
	}
	if n := strings.Count(hs.logs.String(), "connection lost; connecting again"); n != 1 {
		t.Errorf("losses handled: got %d, want 1", n)
	}
}

// TestGatewayLateReportOfOldLoss: discordgo runs each handler in a
// goroutine of its own, so a report of the loss of one connection can be
// handled only once the next is being opened. It is the old connection's
// still: the new one is neither paused nor opened again. The report is
// made during the pause, as the heartbeat's second one can be; one
// processor keeps its handler from running until the reconnect waits on
// the network.
func TestGatewayLateReportOfOldLoss(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var pauses atomic.Int32
	var hs *harness
	hs = newHarness(t, nil, func(o *Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			if pauses.Add(1) > 1 {
				<-ctx.Done()
				return ctx.Err()
			}
			if err := hs.a.s.Close(); err != nil {
				t.Errorf("report the loss again: %v", err)
			}
			return nil
		}
	})
	var conns atomic.Int32
	hold := make(chan struct{})
	gw := droppingGateway(t, func(n int) {
		conns.Store(int32(n))
		if n > 1 {
			<-hold // the second connection stays up until the test ends
		}
	})
	t.Cleanup(func() { close(hold) })
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()

	const ignored = "disconnect of a connection already reopened; ignored"
	waitFor(t, "the late report to be handled", func() bool {
		return pauses.Load() > 1 || strings.Contains(hs.logs.String(), ignored)
	})
	cancel()
	waitGateway(t, done)
	if n := pauses.Load(); n != 1 {
		t.Errorf("pauses: got %d, want 1 (the late report was taken for a loss of the new connection)", n)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("connections: got %d, want 2", n)
	}
	if n := strings.Count(hs.logs.String(), "connection lost; connecting again"); n != 1 {
		t.Errorf("losses handled: got %d, want 1", n)
	}
}

// TestGatewayLateReportAsTheNextOpens: the second report of a loss (the
// heartbeat of the lost connection closing the session again, with no
// connection in it) can be made once the next connection's opening has
// begun, and is then numbered that connection's. It closed nothing: the
// new connection, once open, is neither paused nor opened again. The
// report is made as the opening begins, when it reads the clock.
func TestGatewayLateReportAsTheNextOpens(t *testing.T) {
	var pauses, reopening atomic.Int32
	var hs *harness
	hs = newHarness(t, nil, func(o *Options) {
		now := o.Now
		o.Now = func() time.Time {
			if reopening.CompareAndSwap(1, 0) {
				if err := hs.a.s.Close(); err != nil {
					t.Errorf("report the loss again: %v", err)
				}
			}
			return now()
		}
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			if pauses.Add(1) > 1 {
				<-ctx.Done()
				return ctx.Err()
			}
			reopening.Store(1)
			return nil
		}
	})
	var conns atomic.Int32
	hold := make(chan struct{})
	gw := droppingGateway(t, func(n int) {
		conns.Store(int32(n))
		if n > 1 {
			<-hold // the second connection stays up until the test ends
		}
	})
	t.Cleanup(func() { close(hold) })
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()

	const ignored = "disconnect of no open connection; ignored"
	waitFor(t, "the late report to be handled", func() bool {
		return pauses.Load() > 1 || strings.Contains(hs.logs.String(), ignored)
	})
	cancel()
	waitGateway(t, done)
	if n := pauses.Load(); n != 1 {
		t.Errorf("pauses: got %d, want 1 (the late report was taken for a loss of the new connection)", n)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("connections: got %d, want 2", n)
	}
	if n := strings.Count(hs.logs.String(), "connection lost; connecting again"); n != 1 {
		t.Errorf("losses handled: got %d, want 1", n)
	}
}

// TestGatewayRunAgain: RunGateway run again on one adapter (the bot's
// gateway started over) sets none of the session's fields while the
// goroutines of the connection before may run: discordgo's reader and
// heartbeat of a lost connection read ShouldReconnectOnError without the
// session's lock as they stop, so a RunGateway that set it would race
// with them (caught by go test -race).
func TestGatewayRunAgain(t *testing.T) {
	first, endFirst := context.WithCancel(context.Background())
	defer endFirst()
	hs := newHarness(t, nil, func(o *Options) {
		o.Sleep = func(ctx context.Context, _ time.Duration) error {
			// The first run ends in the pause after its connection
			// was lost.
			endFirst()
			return ctx.Err()
		}
	})
	gw := droppingGateway(t, func(int) {})
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(first) }()
	waitGateway(t, done)
	// Watched from outside, which orders nothing for the race detector:
	// the reader's read of the field is then done, or never is.
	waitFor(t, "the lost connection's reader and heartbeat to stop", func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "discordgo.(*Session).listen") && !strings.Contains(stacks, "discordgo.(*Session).heartbeat")
	})
	again, endAgain := context.WithCancel(context.Background())
	endAgain()
	go func() { done <- hs.a.RunGateway(again) }()
	waitGateway(t, done)
	if n := strings.Count(hs.logs.String(), "connection lost; connecting again"); n != 1 {
		t.Errorf("losses handled by the first run: got %d, want 1", n)
	}
}
