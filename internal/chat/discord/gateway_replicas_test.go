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
	var dones []chan error
	for _, hs := range harnesses {
		done := make(chan error, 1)
		go func() { done <- hs.a.RunGateway(ctx) }()
		dones = append(dones, done)
	}
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
