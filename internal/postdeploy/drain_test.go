package postdeploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

// TestSpikeWhileTheBotStopsIsLeftToTheNextBot: a bot told to stop lets
// its running deploys finish (the engine drains) while its watches go
// on; a spike found meanwhile cannot roll back, the draining engine
// refusing every new run. The watch is then left saved, as any watch of a
// stopping bot, and the next bot reads those intervals again and rolls
// back by itself: the spike was not spent on a rollback that never ran.
func TestSpikeWhileTheBotStopsIsLeftToTheNextBot(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			fs := newFakeSentry(t)
			dir := t.TempDir()
			cfg, open := durableFixture(t, dir, kind, fs.srv.URL, "10m")
			t0 := time.Now().UTC().Truncate(time.Minute)
			clk := testclock.New(t0.Add(-30 * time.Minute))
			var b1 *bot
			var armed atomic.Bool
			// SIGTERM as deploy 2's watch judges its first interval,
			// before the spike: the engine drains, the watch goes on.
			sleep := func(ctx context.Context, d time.Duration) error {
				if armed.CompareAndSwap(true, false) {
					b1.eng.Drain()
				}
				return clk.Sleep(ctx, d)
			}
			b1 = newBot(t, cfg, open(t), fs.srv.URL, "bot-1", clk, sleep)
			b1.deploy(t, "1")
			b1.eng.Wait()
			b1.w.Wait()
			spikeFrom(fs, t0)
			clk.Set(t0)
			armed.Store(true)
			b1.deploy(t, "2")
			b1.w.Wait() // the watch found the spike and ended
			b1.w.Close()
			b1.st.Close()

			// One true story: the spike, and that the next bot rolls back;
			// never "rolling back now" followed by "did not start".
			got := b1.out.titles()
			if want := "auto_rollback is on for web/production, but the bot is stopping, so it does not roll back itself | " +
				"the watch is saved from before this spike: the next bot to start (another replica, or this one restarted) reads these intervals again and rolls back by itself"; !strings.Contains(got, want) {
				t.Fatalf("posts of the stopping bot: want the spike left to the next bot (%q):\n%s", want, got)
			}
			for _, not := range []string{"rolling back now", "rolling back although", "did not start"} {
				if strings.Contains(got, not) {
					t.Errorf("posts of the stopping bot: got %q, which it did not do:\n%s", not, got)
				}
			}
			st2 := open(t)
			saved, err := st2.Watches(t.Context())
			if err != nil || len(saved) != 1 {
				t.Fatalf("saved watches after the stop: got %d, %v; want deploy 2's, for the next bot", len(saved), err)
			}
			b2 := newBot(t, cfg, st2, fs.srv.URL, "bot-2", clk, clk.Sleep)
			b2.resume(t, 1)
			b2.w.Wait()
			b2.eng.Wait()
			if current, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); current != "releases/1" {
				t.Errorf("current after the next bot: got %q, want releases/1", current)
			}
			if got := b2.out.titles(); strings.Count(got, "Rolled back web/production to 1 by itself (succeeded)") != 1 {
				t.Errorf("posts of the next bot: want one automatic rollback:\n%s", got)
			}
			recs, err := st2.Records(t.Context(), deploy.Filter{App: "web", Env: "production"})
			if err != nil {
				t.Fatal(err)
			}
			var rollbacks int
			for _, r := range recs {
				if r.Kind == deploy.KindRollback {
					rollbacks++
				}
			}
			if rollbacks != 1 {
				t.Errorf("rollbacks recorded: got %d, want 1", rollbacks)
			}
			// One spike, told and audited once: the next bot rolls back
			// for the spike the stopping bot posted, without posting it
			// again, nor auditing it a second time.
			const spike = "📈 Error spike after web 2 to production"
			if n1, n2 := strings.Count(b1.out.titles(), spike), strings.Count(b2.out.titles(), spike); n1 != 1 || n2 != 0 {
				t.Errorf("spike posts: got %d by the stopping bot and %d by the next, want 1 and 0:\n%s\n--\n%s", n1, n2, b1.out.titles(), b2.out.titles())
			}
			if got := b2.out.titles(); !strings.Contains(got, "Automatic rollback of web/production for the error spike posted before (60.0 errors/min vs 1.0 before the deploy): rolling back now") {
				t.Errorf("posts of the next bot: want it to say it rolls back for the spike posted before:\n%s", got)
			}
			if spikes := spikeEntries(t, st2); spikes != 1 {
				t.Errorf("spike audit entries: got %d, want 1", spikes)
			}
		})
	}
}

// TestSpikeOfAKilledBotIsNotPostedAgain: a bot killed once it recorded
// the spike as reported, as its automatic rollback was to start, leaves
// the saved watch to the next bot, which finds the spike again in the
// same intervals: it rolls back, saying so in one line, but neither posts
// nor audits the spike a second time.
func TestSpikeOfAKilledBotIsNotPostedAgain(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			fs := newFakeSentry(t)
			dir := t.TempDir()
			cfg, open := durableFixture(t, dir, kind, fs.srv.URL, "10m")
			t0 := time.Now().UTC().Truncate(time.Minute)
			clk := testclock.New(t0.Add(-30 * time.Minute))
			b1 := newBot(t, cfg, open(t), fs.srv.URL, "bot-1", clk, clk.Sleep)
			hang, held := make(chan struct{}), make(chan struct{})
			t.Cleanup(func() { close(hang) }) // before b1's watcher is closed
			b1.deploy(t, "1")
			b1.eng.Wait()
			b1.w.Wait()
			const spike = "📈 Error spike after web 2 to production"
			b1.rb.mu.Lock()
			b1.rb.hold, b1.rb.held = hang, held
			b1.rb.mu.Unlock()
			spikeFrom(fs, t0)
			clk.Set(t0)
			b1.deploy(t, "2")
			b1.eng.Wait()
			select {
			case <-held:
			case <-time.After(30 * time.Second):
				t.Fatalf("the first bot did not get to its automatic rollback:\n%s", b1.out.titles())
			}
			b1.st.Close() // killed: nothing more of it reaches the store

			st2 := open(t)
			b2 := newBot(t, cfg, st2, fs.srv.URL, "bot-2", clk, clk.Sleep)
			b2.resume(t, 1)
			b2.w.Wait()
			b2.eng.Wait()
			got := b2.out.titles()
			if strings.Contains(got, spike) {
				t.Errorf("posts of the next bot: the spike posted again:\n%s", got)
			}
			for _, want := range []string{
				"Automatic rollback of web/production for the error spike posted before (60.0 errors/min vs 1.0 before the deploy): rolling back now",
				"Rolled back web/production to 1 by itself (succeeded)",
			} {
				if strings.Count(got, want) != 1 {
					t.Errorf("posts of the next bot: want %q once:\n%s", want, got)
				}
			}
			if current, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); current != "releases/1" {
				t.Errorf("current after the next bot: got %q, want releases/1", current)
			}
			if spikes := spikeEntries(t, st2); spikes != 1 {
				t.Errorf("spike audit entries: got %d, want 1", spikes)
			}
		})
	}
}

// TestRollbackOfAKilledBotIsNotStartedAgain: a chat rate limiting the bot
// as it announces its automatic rollback does not hold the rollback,
// which runs to its end; a bot killed then, its announcement still
// unanswered, leaves the saved watch to the next bot, which finds the
// rollback the first one made and neither rolls back again nor posts
// the spike again.
func TestRollbackOfAKilledBotIsNotStartedAgain(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			fs := newFakeSentry(t)
			dir := t.TempDir()
			cfg, open := durableFixture(t, dir, kind, fs.srv.URL, "10m")
			t0 := time.Now().UTC().Truncate(time.Minute)
			clk := testclock.New(t0.Add(-30 * time.Minute))
			b1 := newBot(t, cfg, open(t), fs.srv.URL, "bot-1", clk, clk.Sleep)
			hang := make(chan struct{})
			t.Cleanup(func() { close(hang) }) // before b1's watcher is closed
			b1.deploy(t, "1")
			b1.eng.Wait()
			b1.w.Wait()
			const spike = "📈 Error spike after web 2 to production"
			b1.out.mu.Lock()
			b1.out.hang, b1.out.hangAt = hang, spike
			b1.out.mu.Unlock()
			spikeFrom(fs, t0)
			clk.Set(t0)
			b1.deploy(t, "2")
			rollbacks := func(st durableStore) []*deploy.Record {
				t.Helper()
				recs, err := st.Records(t.Context(), deploy.Filter{App: "web", Env: "production"})
				if err != nil {
					t.Fatal(err)
				}
				var rbs []*deploy.Record
				for _, r := range recs {
					if r.Kind == deploy.KindRollback {
						rbs = append(rbs, r)
					}
				}
				return rbs
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				if rbs := rollbacks(b1.st); len(rbs) == 1 && rbs[0].Outcome == deploy.OutcomeSucceeded {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no automatic rollback while the announcement waits on the chat's rate limit:\n%s", b1.out.titles())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := b1.out.titles(); !strings.Contains(got, spike) {
				t.Fatalf("posts of the first bot: want the spike announced:\n%s", got)
			}
			var deployed string
			recs, err := b1.st.Records(t.Context(), deploy.Filter{App: "web", Env: "production"})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Kind == deploy.KindDeploy && r.Build == "2" {
					deployed = r.ID
				}
			}
			b1.st.Close() // killed: nothing more of it reaches the store

			st2 := open(t)
			b2 := newBot(t, cfg, st2, fs.srv.URL, "bot-2", clk, clk.Sleep)
			// The killed bot's lease of the watch runs out first.
			deadline = time.Now().Add(30 * time.Second)
			for {
				if _, err := b2.w.Resume(t.Context()); err != nil {
					t.Fatalf("Resume: %v", err)
				}
				saved, err := st2.Watches(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				left := false
				for _, sw := range saved {
					left = left || sw.ID == deployed
				}
				if !left {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the watch of deploy %s was not taken over", deployed)
				}
				time.Sleep(50 * time.Millisecond)
			}
			b2.w.Wait()
			b2.eng.Wait()
			got := b2.out.titles()
			for _, not := range []string{spike, "for the error spike posted before", "rolling back now"} {
				if strings.Contains(got, not) {
					t.Errorf("posts of the next bot: got %q, want the rollback made already left alone:\n%s", not, got)
				}
			}
			if rbs := rollbacks(st2); len(rbs) != 1 {
				t.Errorf("rollbacks recorded: got %d, want 1", len(rbs))
			}
			if current, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); current != "releases/1" {
				t.Errorf("current after the next bot: got %q, want releases/1", current)
			}
			if spikes := spikeEntries(t, st2); spikes != 1 {
				t.Errorf("spike audit entries: got %d, want 1", spikes)
			}
		})
	}
}

// spikeEntries counts the "spike" entries of web in st's audit log.
func spikeEntries(t *testing.T, st durableStore) int {
	t.Helper()
	entries, err := st.Audit(t.Context(), audit.Query{App: "web"})
	if err != nil {
		t.Fatal(err)
	}
	spikes := 0
	for _, e := range entries {
		if e.Action == "spike" {
			spikes++
		}
	}
	return spikes
}
