package discord

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/switchman-bot/switchman/internal/testenv/leakcheck"
)

// TestGatewayReconnectsLeaveNothing drops the gateway connection again
// and again, and checks that once RunGateway returns no goroutine or file
// of any connection is left: Discord moves a bot's gateway connection
// every few hours, for as long as it runs. Not parallel: other tests'
// goroutines would count.
func TestGatewayReconnectsLeaveNothing(t *testing.T) {
	const drops = 4
	var conns atomic.Int32
	up := websocket.Upgrader{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer conn.Close()
		if conn.WriteJSON(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}}) != nil {
			return
		}
		var hello struct {
			Op int `json:"op"`
		}
		if err := conn.ReadJSON(&hello); err != nil {
			return
		}
		ready := map[string]any{"op": 0, "t": "READY", "s": 1, "d": map[string]any{
			"v": 9, "session_id": "session-1", "user": map[string]any{"id": "999", "username": "switchman", "bot": true}, "guilds": []any{},
		}}
		if hello.Op == 6 { // a resume
			ready = map[string]any{"op": 0, "t": "RESUMED", "s": 2, "d": map[string]any{}}
		}
		if conn.WriteJSON(ready) != nil {
			return
		}
		if conns.Add(1) <= drops {
			return // dropped: the bot reconnects
		}
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(gw.Close)
	// The pauses between reconnects pass on the harness's clock.
	var hs *harness
	hs = newHarness(t, nil, func(o *Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error { return hs.clock.Sleep(ctx, d) }
	})
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")

	snap := leakcheck.Take(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	waitFor(t, "the reconnections", func() bool { return conns.Load() > drops })
	cancel()
	waitGateway(t, done)
	hs.shutdown(t)
	gw.CloseClientConnections()
	hs.fd.srv.CloseClientConnections()
	snap.Check(t)
}

// TestGatewayDownAtStopLeavesNothing: the gateway goes away, and the bot
// stops while it is away. Nothing keeps trying to reconnect once
// RunGateway has returned. Not parallel: other tests' goroutines would
// count.
func TestGatewayDownAtStopLeavesNothing(t *testing.T) {
	var (
		mu    sync.Mutex
		conns []*websocket.Conn
		ready atomic.Int32
	)
	up := websocket.Upgrader{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
		defer conn.Close()
		if conn.WriteJSON(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}}) != nil {
			return
		}
		var identify struct{ Op int }
		if conn.ReadJSON(&identify) != nil {
			return
		}
		if conn.WriteJSON(map[string]any{"op": 0, "t": "READY", "s": 1, "d": map[string]any{
			"v": 9, "session_id": "session-1", "user": map[string]any{"id": "999", "username": "switchman", "bot": true}, "guilds": []any{},
		}}) != nil {
			return
		}
		ready.Add(1)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(gw.Close)
	hs := newHarness(t, nil, nil)
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")

	var dropped atomic.Bool
	hs.a.s.AddHandler(func(*discordgo.Session, *discordgo.Disconnect) { dropped.Store(true) })
	snap := leakcheck.Take(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	waitFor(t, "the gateway connected", func() bool { return ready.Load() == 1 })
	// Discord goes away: no connection, none taken.
	gw.Listener.Close()
	mu.Lock()
	for _, c := range conns {
		c.NetConn().Close()
	}
	mu.Unlock()
	waitFor(t, "the bot to see the connection drop", dropped.Load)
	cancel()
	waitGateway(t, done)
	hs.shutdown(t)
	hs.fd.srv.CloseClientConnections()
	snap.Check(t)
}

// TestGatewayStoppedDuringPauseLeavesNothing: the bot stops while
// RunGateway pauses before connecting again, and the connection is up
// then. That happens when a Disconnect is handled late: discordgo runs
// each handler in a goroutine of its own, so the second Disconnect of a
// lost connection can arrive once the connection is open again, and is
// taken for a loss of that one. The pause opens the connection again
// here, as it stands then. RunGateway must close it all the same: its
// heartbeat and reader would otherwise run on after it returned. Not
// parallel: other tests' goroutines would count.
func TestGatewayStoppedDuringPauseLeavesNothing(t *testing.T) {
	var conns atomic.Int32
	up := websocket.Upgrader{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if conn.WriteJSON(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}}) != nil {
			return
		}
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
		if conn.WriteJSON(map[string]any{"op": 0, "t": "READY", "s": 1, "d": map[string]any{
			"v": 9, "session_id": "session-1", "user": map[string]any{"id": "999", "username": "switchman", "bot": true}, "guilds": []any{},
		}}) != nil {
			return
		}
		if conns.Add(1) == 1 {
			return // dropped: the bot pauses, then connects again
		}
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(gw.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hs *harness
	hs = newHarness(t, nil, func(o *Options) {
		o.Sleep = func(context.Context, time.Duration) error {
			if err := hs.a.s.Open(); err != nil {
				t.Errorf("open the gateway during the pause: %v", err)
			}
			cancel()
			return context.Canceled
		}
	})
	hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")

	snap := leakcheck.Take(t)
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	waitGateway(t, done)
	waitFor(t, "the second connection", func() bool { return conns.Load() == 2 })
	hs.shutdown(t)
	hs.fd.srv.CloseClientConnections()
	snap.Check(t)
}

// TestGatewaySilentLeavesNothing: a gateway takes the websocket and
// never writes, so the Hello the bot waits for never comes. A try to
// open it ends when the bot stops, or once its bound has passed (it is
// then tried again), and RunGateway returns leaving nothing behind.
// Not parallel: other tests' goroutines would count.
func TestGatewaySilentLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		// bound is the adapter's bound on one try; tries is how many
		// the gateway sees before the bot stops.
		bound time.Duration
		tries int32
	}{
		{name: "stopped during the first try", bound: time.Hour, tries: 1},
		{name: "tried again after the bound", bound: 50 * time.Millisecond, tries: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tries atomic.Int32
			up := websocket.Upgrader{}
			gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer conn.Close()
				tries.Add(1)
				for {
					if _, _, err := conn.ReadMessage(); err != nil {
						return
					}
				}
			}))
			t.Cleanup(gw.Close)
			// The pauses between tries pass on the harness's clock.
			var hs *harness
			hs = newHarness(t, nil, func(o *Options) {
				o.Sleep = func(ctx context.Context, d time.Duration) error { return hs.clock.Sleep(ctx, d) }
			})
			hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
			hs.a.gw.bound = tc.bound

			snap := leakcheck.Take(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- hs.a.RunGateway(ctx) }()
			waitFor(t, "the tries", func() bool { return tries.Load() >= tc.tries })
			cancel()
			waitGateway(t, done)
			hs.shutdown(t)
			gw.CloseClientConnections()
			hs.fd.srv.CloseClientConnections()
			snap.Check(t)
		})
	}
}
