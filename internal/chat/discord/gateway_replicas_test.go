package discord

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// checkedDedupe is a replica's store as its Deduper; it notes each check
// once it has answered.
type checkedDedupe struct {
	store *redis.Store
	mu    sync.Mutex
	seen  map[string]int
}

func (d *checkedDedupe) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	first, err := d.store.SetOnce(ctx, key, ttl)
	d.mu.Lock()
	d.seen[key]++
	d.mu.Unlock()
	return first, err
}

func (d *checkedDedupe) checked(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[key]
}

// TestGatewayReplicasAnswerOnce: two replicas, each with its own gateway
// connection and one Redis, are both handed the same interaction, as
// Discord hands it to every connection of the bot. The replica that
// takes it runs it and answers it; the other sends nothing: its answer
// ("This was already handled") could reach Discord first, and the command
// would then not run, its own response refused.
func TestGatewayReplicasAnswerOnce(t *testing.T) {
	srv := redisserver.Start(t)
	gw := fakeGateway(t, slashCommand("601", "111", "whoami"))
	var harnesses []*harness
	var dedupes []*checkedDedupe
	for range 2 {
		st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		d := &checkedDedupe{store: st, seen: map[string]int{}}
		h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
			out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
			return commands.Outcome{}
		}}
		hs := newHarness(t, h, func(o *Options) { o.Dedupe = d })
		hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
		harnesses, dedupes = append(harnesses, hs), append(dedupes, d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dones := runGateways(ctx, harnesses)
	// Both replicas have checked the interaction; each holds it until
	// it has answered (or not), which Shutdown waits for.
	key := "discord:interaction:601"
	waitFor(t, "both replicas to check the interaction", func() bool {
		return dedupes[0].checked(key) == 1 && dedupes[1].checked(key) == 1
	})
	for _, hs := range harnesses {
		hs.shutdown(t)
	}
	cancel()
	for _, done := range dones {
		waitGateway(t, done)
	}

	callback := "POST /api/v9/interactions/601/" + interactionToken("601") + "/callback"
	var answers []string
	runs := 0
	for i, hs := range harnesses {
		runs += len(hs.h.Requests())
		for _, c := range hs.fd.Calls() {
			if c.Method+" "+c.Path == callback {
				answers = append(answers, string(c.Body))
				t.Logf("replica %d answered: %s", i, c.Body)
			}
		}
	}
	if runs != 1 {
		t.Errorf("the command ran %d times, want once", runs)
	}
	if len(answers) != 1 {
		t.Fatalf("the interaction got %d answers, want one, from the replica that ran it: %q", len(answers), answers)
	}
	if strings.Contains(answers[0], "already handled") {
		t.Errorf("the answer is %s, want the running command's", answers[0])
	}
}

// orderedDedupe is a replica's Deduper that makes its check wait until
// another replica's has answered, so that which replica takes an
// interaction is known; it notes each check once it has answered. A nil
// store is a Redis that cannot be reached: the replica's own server is
// down.
type orderedDedupe struct {
	store deduper
	after <-chan struct{} // nil: check at once
	done  chan struct{}   // closed once the first check has answered
	once  sync.Once
}

type deduper interface {
	SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

func (d *orderedDedupe) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if d.after != nil {
		select {
		case <-d.after:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	first, err := d.store.SetOnce(ctx, key, ttl)
	d.once.Do(func() { close(d.done) })
	return first, err
}

func (d *orderedDedupe) checked() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// TestGatewayReplicasStoppingOrCutOff: over the gateway, a replica that
// is stopping, or cannot reach Redis, answers only an interaction it
// took itself in the duplicate check, and otherwise sends nothing: an
// answer from it ("restarting", "state store unreachable") could reach
// Discord before the answer of the replica that runs the command, whose
// own response would then be refused and the command not run.
func TestGatewayReplicasStoppingOrCutOff(t *testing.T) {
	const (
		ran        = "You are ana"
		restarting = "Switchman is restarting"
	)
	type replica struct {
		stopping bool // Shutdown before the interaction arrives
		cutOff   bool // its Redis is down
	}
	for _, tt := range []struct {
		name     string
		replicas [2]replica // the second checks after the first
		answer   string     // of the one answer, from the first replica
		runs     int
	}{
		{name: "the second is stopping", replicas: [2]replica{{}, {stopping: true}}, answer: ran, runs: 1},
		{name: "the second is stopping and cut off from Redis", replicas: [2]replica{{}, {stopping: true, cutOff: true}}, answer: ran, runs: 1},
		{name: "the second is cut off from Redis", replicas: [2]replica{{}, {cutOff: true}}, answer: ran, runs: 1},
		{name: "both are stopping", replicas: [2]replica{{stopping: true}, {stopping: true}}, answer: restarting},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			gw := fakeGateway(t, slashCommand("602", "111", "whoami"))
			var harnesses []*harness
			var dedupes []*orderedDedupe
			for i, r := range tt.replicas {
				url := srv.URL()
				var own *redisserver.Server
				if r.cutOff {
					own = redisserver.Start(t)
					url = own.URL()
				}
				st, err := redis.Open(t.Context(), redis.Options{URL: url})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if own != nil {
					own.Kill()
				}
				d := &orderedDedupe{store: st, done: make(chan struct{})}
				if i > 0 {
					d.after = dedupes[i-1].done
				}
				h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
					out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
					return commands.Outcome{}
				}}
				hs := newHarness(t, h, func(o *Options) { o.Dedupe = d })
				hs.fd.gatewayURL = "ws" + strings.TrimPrefix(gw.URL, "http")
				if r.stopping {
					hs.shutdown(t)
				}
				harnesses, dedupes = append(harnesses, hs), append(dedupes, d)
			}
			callback := "POST /api/v9/interactions/602/" + interactionToken("602") + "/callback"
			answers := func(hs *harness) []string {
				var got []string
				for _, c := range hs.fd.Calls() {
					if c.Method+" "+c.Path == callback {
						got = append(got, string(c.Body))
					}
				}
				return got
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dones := runGateways(ctx, harnesses)
			// Each replica has checked the interaction (or answered it
			// without), and the first has answered it.
			waitFor(t, "both replicas to handle the interaction", func() bool {
				for i, hs := range harnesses {
					if !dedupes[i].checked() && len(answers(hs)) == 0 {
						return false
					}
				}
				return len(answers(harnesses[0])) > 0
			})
			for i, hs := range harnesses {
				if !tt.replicas[i].stopping {
					hs.shutdown(t)
				}
			}
			cancel()
			for _, done := range dones {
				waitGateway(t, done)
			}

			runs := 0
			var all []string
			for i, hs := range harnesses {
				runs += len(hs.h.Requests())
				for _, a := range answers(hs) {
					t.Logf("replica %d answered: %s", i, a)
					all = append(all, a)
				}
			}
			if runs != tt.runs {
				t.Errorf("the command ran %d times, want %d", runs, tt.runs)
			}
			if got := answers(harnesses[1]); len(got) != 0 {
				t.Errorf("the second replica answered %q, want nothing: the first took the interaction", got)
			}
			if len(all) != 1 {
				t.Fatalf("the interaction got %d answers, want one: %q", len(all), all)
			}
			var said bool
			for _, c := range harnesses[0].fd.Calls() {
				said = said || strings.Contains(string(c.Body), tt.answer)
			}
			if !said {
				t.Errorf("the first replica's calls %s, want one saying %q", transcript(t, harnesses[0].fd.Calls()), tt.answer)
			}
		})
	}
}

// runGateways runs each harness's gateway until ctx ends; each channel
// gets its RunGateway's error.
func runGateways(ctx context.Context, harnesses []*harness) []chan error {
	var dones []chan error
	for _, hs := range harnesses {
		done := make(chan error, 1)
		go func() { done <- hs.a.RunGateway(ctx) }()
		dones = append(dones, done)
	}
	return dones
}
