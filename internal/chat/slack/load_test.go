package slack_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestLoad sends 500 signed slash commands from 50 concurrent clients to
// the real handler, deduplicating in a real embedded store: every one is
// answered 200 and runs exactly once, and sending them all again runs none.
// How fast they are answered is BenchmarkAck's to measure: the dedupe
// check's time limit is lifted here, so that a machine slowed by other
// work turns no command into a "store did not answer" refusal.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	api := newFakeSlack(t)
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, h, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) {
		o.Dedupe, o.Now = st, time.Now
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		o.DedupeTimeout = time.Minute
	})
	srv := httptest.NewServer(a.Commands())
	t.Cleanup(srv.Close)

	const total, clients = 500, 50
	bodies := make([]string, total)
	for i := range bodies {
		bodies[i] = slashForm(fmt.Sprintf("U%03d", i%7), "C1", "/status", fmt.Sprintf("web%d", i), fmt.Sprintf("TL%d", i), "")
	}
	send := func() (lat []time.Duration) {
		var mu sync.Mutex
		var next atomic.Int64
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				c := &http.Client{Timeout: 10 * time.Second}
				for {
					i := int(next.Add(1)) - 1
					if i >= total {
						return
					}
					start := time.Now()
					resp, err := c.Do(signed(t, srv.URL, testSecret, bodies[i], time.Now(), formType))
					d := time.Since(start)
					if err != nil {
						t.Errorf("request %d: %v", i, err)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("request %d: got %s, want 200", i, resp.Status)
					}
					if strings.Contains(string(body), "⚠️") {
						t.Errorf("request %d: refused: %s", i, body)
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return lat
	}
	lat := send()
	waitUntil(t, "every command to run", func() bool { return h.total() >= total })
	again := send()
	a.Stop()
	a.Wait()

	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reqs) != total {
		t.Errorf("runs: got %d, want %d", len(h.reqs), total)
	}
	for i := range total {
		if n := h.runs[fmt.Sprintf("status web%d", i)]; n != 1 {
			t.Errorf("command %d ran %d times, want once", i, n)
		}
	}
	p50, p99, max := percentiles(lat)
	t.Logf("ack latency of %d commands from %d clients: p50 %s, p99 %s, max %s", total, clients, p50, p99, max)
	p50, p99, max = percentiles(again)
	t.Logf("ack latency of their %d replays: p50 %s, p99 %s, max %s", total, p50, p99, max)
}

func percentiles(d []time.Duration) (p50, p99, max time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[(len(s)*99)/100], s[len(s)-1]
}

// BenchmarkAck measures how fast Slack gets its answer to a slash command
// (signature check, dedupe in the embedded store, the command started in
// the background) with 50 concurrent clients, while deploys run one after
// the other through the real command service and engine.
func BenchmarkAck(b *testing.B) {
	f := newFlow(b, func(o *slack.Options) { o.Log = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	stop := make(chan struct{})
	var deploys atomic.Int64
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			build := []string{"1", "2"}[i%2]
			f.command("UBOB", "CREQ", "/deploy", "web "+build)
			f.waitFinal(fmt.Sprintf("now runs %s", build))
			deploys.Add(1)
		}
	})
	waitUntil(b, "a deploy to start", func() bool { return len(f.api.snapshot()) > 0 })

	const clients = 50
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				body := slashForm("UCARL", "CREQ", "/switchman", "whoami", fmt.Sprintf("TB%d", i), "")
				start := time.Now()
				resp, err := c.Do(signed(b, f.srv.URL+"/slack/commands", testSecret, body, time.Now(), formType))
				d := time.Since(start)
				if err != nil {
					b.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("got %s, want 200", resp.Status)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(stop)
	bg.Wait()
	p50, p99, max := percentiles(lat)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(max.Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(deploys.Load()), "deploys")
}
