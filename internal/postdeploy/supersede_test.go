package postdeploy_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

const watchYAML = `sentry: {url: "http://sentry.invalid", org: acme, token: sntrys_test}
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
        sentry: {project: web-backend, watch: 15m, interval: 1m, auto_rollback: true}
`

// scriptedSentry answers 1 error a minute, 60 in [spikeFrom, spikeTo);
// onPoll sees the start of every read, and its error, if any, is the
// read's.
type scriptedSentry struct {
	mu                 sync.Mutex
	spikeFrom, spikeTo time.Time
	onPoll             func(ctx context.Context, start time.Time) error
}

func (f *scriptedSentry) ErrorCounts(ctx context.Context, _, _, _ string, start, end time.Time, iv time.Duration) ([]sentry.Bucket, error) {
	if f.onPoll != nil {
		if err := f.onPoll(ctx, start); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var bs []sentry.Bucket
	for b := start.Truncate(iv); !b.Add(iv).After(end); b = b.Add(iv) {
		n := 1
		if !b.Before(f.spikeFrom) && b.Before(f.spikeTo) {
			n = 60
		}
		bs = append(bs, sentry.Bucket{Start: b, Count: n})
	}
	return bs, nil
}

func (f *scriptedSentry) NewIssues(context.Context, string, string, string, string, int) ([]sentry.Issue, error) {
	return nil, nil
}
func (f *scriptedSentry) CreateRelease(context.Context, string, string, []string) error { return nil }
func (f *scriptedSentry) CreateDeploy(context.Context, string, string, string, time.Time, time.Time, string) error {
	return nil
}

// env stands for the engine and the store: what runs (the engine's From
// check), the records, the audit log.
type env struct {
	mu      sync.Mutex
	current string
	records []*deploy.Record // newest first
	reqs    []deploy.Request
	outcome deploy.Outcome
	audited []audit.Entry
	// historyDown makes the records unreadable.
	historyDown bool
	// held, when set, receives the sink of each rollback, which runs
	// until the test sends its final record there; the rollback is
	// recorded as started at now().
	held chan deploy.Sink
	now  func() time.Time
	// auditDown fails so many audit writes, as a store that is briefly
	// unreachable (a Redis failover) does.
	auditDown int
	// takenOver ends each rollback as one whose record another replica
	// took over (deploy.Event.TakenOver).
	takenOver bool
	// unlocked ends each rollback without the lock a rollback takes
	// before its first switch: it failed before, or could not write it.
	unlocked bool
}

func (e *env) Rollback(_ context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if req.From != "" && req.From != e.current {
		return nil, errs.New(errs.Conflict, "runs %s now, not %s", e.current, req.From)
	}
	e.reqs = append(e.reqs, req)
	rec := &deploy.Record{ID: "rb1", Kind: deploy.KindRollback, App: req.App, Env: req.Env, Build: "1", Previous: req.From, Outcome: e.outcome, Locked: !e.unlocked}
	if e.held != nil {
		rec.Started, rec.Outcome = e.now(), deploy.OutcomeRunning
		e.records = append([]*deploy.Record{rec.Clone()}, e.records...)
		e.held <- sink
		return rec, nil
	}
	go sink(deploy.Event{Kind: deploy.EventFinished, App: req.App, Env: req.Env, Record: rec, TakenOver: e.takenOver})
	return rec, nil
}

func (e *env) Records(_ context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.historyDown {
		return nil, errors.New("store: connection refused")
	}
	recs := slices.Clone(e.records)
	if f.Limit > 0 && len(recs) > f.Limit {
		recs = recs[:f.Limit]
	}
	return recs, nil
}

func (e *env) Record(_ context.Context, id string) (*deploy.Record, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.records {
		if r.ID == id {
			return r.Clone(), nil
		}
	}
	return nil, deploy.ErrNotFound
}

func (e *env) AppendAudit(_ context.Context, a *audit.Entry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.auditDown > 0 {
		e.auditDown--
		return errors.New("append audit: dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	e.audited = append(e.audited, *a)
	return nil
}

// ran records r and has the watcher see it start and finish.
func (e *env) ran(w *postdeploy.Watcher, r *deploy.Record) {
	e.mu.Lock()
	e.records = append([]*deploy.Record{r}, e.records...)
	e.mu.Unlock()
	st := r.Clone()
	st.Outcome = ""
	w.Observe(deploy.Event{Kind: deploy.EventStarted, App: r.App, Env: r.Env, Record: st})
	w.Observe(deploy.Event{Kind: deploy.EventFinished, App: r.App, Env: r.Env, Record: r})
}

func newWatcher(t *testing.T, fs *scriptedSentry, e *env, out *posts, clk *testclock.Clock) *postdeploy.Watcher {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "sw.yaml"), []byte(watchYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	return postdeploy.New(postdeploy.Options{Config: cfg, Sentry: fs, Notifier: out, Audit: e, History: e, Rollback: e,
		Now: clk.Now, Sleep: clk.Sleep, Channel: func(string, string) string { return "#deploys" }})
}

// TestWatchEndsAtALaterDeploy: deploy d2 (build 2) is watched; a minute
// later d3 (build 3) starts, here or on another replica. Its watch ends
// there: it reads Sentry no more and posts nothing about build 2. Build
// 3 breaks things while it is live and is reverted to 2: its errors would
// make a spike in d2's watch, whose rollback from 2 would pass the
// engine's check (2 runs again); Sentry failing would be reported as
// d2's watch being inconclusive, and a shutdown as nothing watching d2.
// The replica that sees d3 end reverted says that nothing watches build
// 2 any more, and nothing else.
func TestWatchEndsAtALaterDeploy(t *testing.T) {
	tests := []struct {
		name        string
		here        bool   // d3 runs on this replica: the watcher sees it start
		historyDown bool   // the deploy history cannot be read from d3's start on
		then        string // what follows d3's start: "spike", "sentry fails" or "shutdown"
		// stuck: d3's switch back failed, and its host runs 3.
		stuck bool
		// left: d3 was cancelled, and a host it switched to its first
		// release, web9, stays on 3.
		left bool
	}{
		{"here, then a spike", true, false, "spike", false, false},
		{"here, the history unreadable, then a spike", true, true, "spike", false, false},
		{"on another replica, then a spike", false, false, "spike", false, false},
		{"here, then Sentry fails", true, false, "sentry fails", false, false},
		{"on another replica, then Sentry fails", false, false, "sentry fails", false, false},
		{"on another replica, then a shutdown", false, false, "shutdown", false, false},
		{"here, nothing switched back, then a spike", true, false, "spike", true, false},
		{"here, cancelled leaving a host on 3, then a spike", true, false, "spike", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
			clk := testclock.New(t0)
			fs := &scriptedSentry{}
			e := &env{current: "2", outcome: deploy.OutcomeSucceeded}
			out := &posts{}
			w := newWatcher(t, fs, e, out, clk)
			defer w.Close()
			var once sync.Once
			var d3Started atomic.Bool
			var readsSince atomic.Int32 // reads of d2's watch once d3 started
			fs.onPoll = func(ctx context.Context, start time.Time) error {
				if start.Before(t0) {
					return nil // the baseline
				}
				if d3Started.Load() {
					readsSince.Add(1)
					if tt.then == "sentry fails" {
						return errors.New("sentry: 502 Bad Gateway")
					}
					return nil
				}
				once.Do(func() {
					now := clk.Now()
					fs.mu.Lock()
					fs.spikeFrom, fs.spikeTo = now, now.Add(2*time.Minute)
					fs.mu.Unlock()
					host := deploy.HostResult{Host: "web1", State: deploy.HostReverted, Current: "2", Previous: "2", Switched: true}
					if tt.stuck {
						host = deploy.HostResult{Host: "web1", State: deploy.HostFailed, Current: "3", Previous: "2", Switched: true, Error: "switch back: restart failed"}
					}
					d3 := &deploy.Record{ID: "d3", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "3", Previous: "2",
						Outcome: deploy.OutcomeReverted, Started: now, Finished: now.Add(2 * time.Minute), Channel: "#deploys", Hosts: []deploy.HostResult{host}}
					if tt.left {
						d3.Outcome = deploy.OutcomeCancelled
						d3.Hosts = append(d3.Hosts, deploy.HostResult{Host: "web9", State: deploy.HostActive, Current: "3", Switched: true})
					}
					// Unreadable before d3 is seen: the watcher may read
					// the history as soon as it learns of d3.
					e.mu.Lock()
					e.historyDown = tt.historyDown
					e.mu.Unlock()
					if tt.here {
						e.ran(w, d3)
					} else {
						e.mu.Lock()
						e.records = append([]*deploy.Record{d3}, e.records...)
						e.mu.Unlock()
					}
					d3Started.Store(true)
				})
				if tt.then == "shutdown" {
					go w.Close() // SIGTERM of a rolling update
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}
			e.ran(w, &deploy.Record{ID: "d2", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "1",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-time.Minute), Finished: t0, Channel: "#deploys"})
			w.Wait()
			e.mu.Lock()
			defer e.mu.Unlock()
			if len(e.reqs) > 0 {
				t.Errorf("d2's watch rolled back %+v after deploy d3 started", e.reqs)
			}
			// All there is to say of build 2 is that nothing watches it:
			// by the replica that saw d3 end reverted, reading d2 from
			// the history.
			ended, runs := "Error watch of web 2 on production ended: deploy 3 started and was reverted", "web/production runs 2 as before"
			if tt.stuck {
				// Said as its report says it: nothing went back.
				ended, runs = "Error watch of web 2 on production ended: deploy 3 started and failed",
					"web/production may no longer run 2 everywhere: deploy d3 switched hosts to 3 and none went back"
			}
			if tt.left {
				ended, runs = "Error watch of web 2 on production ended: deploy 3 started and was cancelled",
					"web/production may no longer run 2 everywhere: deploy d3 was cancelled and left on 3 on web9"
			}
			var posted []string
			if got := out.titles(); got != "" {
				posted = strings.Split(got, "\n")
			}
			if want := tt.here && !tt.historyDown; want != (len(posted) == 1) {
				t.Errorf("posts %q: got %d, want %d (%q)", posted, len(posted), map[bool]int{true: 1}[want], ended)
			}
			for _, p := range posted {
				if !strings.HasPrefix(p, ended) || !strings.Contains(p, runs) {
					t.Errorf("posts %q: want nothing about build 2 once d3 started but %q, saying %q", p, ended, runs)
				}
			}
			if n := readsSince.Load(); n != 0 {
				t.Errorf("d2's watch read Sentry %d times after d3 started, want 0", n)
			}
		})
	}
}

// TestAutomaticRollbackOutcomeAudited: the spike, the automatic rollback
// and how it ended are in the audit log, as a user's rollback's are; a
// store that fails a write or two, as in a Redis failover, loses none of
// them, as it loses no command's.
func TestAutomaticRollbackOutcomeAudited(t *testing.T) {
	tests := []struct {
		name      string
		auditDown int
	}{
		{"store up", 0},
		{"store briefly down", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{current: "2", outcome: deploy.OutcomeFailed, auditDown: tt.auditDown}
			spikeRolledBack(t, e, &posts{})
			var all []string
			for _, a := range e.audited {
				all = append(all, a.Action+": "+a.Reason)
			}
			for _, want := range []string{
				"spike: 60.0 errors/min vs 1.0 before the deploy",
				"rollback: automatic rollback rb1: error spike after web 2: 60.0 errors/min vs 1.0 (threshold 5.0); auto_rollback policy",
				"rollback: automatic rollback rb1 finished: failed",
			} {
				if !slices.Contains(all, want) {
					t.Errorf("audit entries %q: want %q", all, want)
				}
			}
		})
	}
}

// TestAutomaticRollbackTakenOver: an automatic rollback whose replica
// lost its lease, and whose end another replica recorded (and audits, and
// reports), is not audited as finished here, nor announced as rolled back
// with the app+env locked: the channel is told that the lease was lost.
func TestAutomaticRollbackTakenOver(t *testing.T) {
	e := &env{current: "2", outcome: deploy.OutcomeSucceeded, takenOver: true}
	out := &posts{}
	spikeRolledBack(t, e, out)
	for _, a := range e.audited {
		if strings.Contains(a.Reason, "finished") {
			t.Errorf("audit entry %q: want none of the rollback's end, which the replica that took it over writes", a.Reason)
		}
	}
	got := out.titles()
	if want := "Automatic rollback rb1 of web/production lost its lease"; !strings.Contains(got, want) {
		t.Errorf("posts: got\n%s\nwant %q", got, want)
	}
	if cmds := suggested(t, got); len(cmds) != 1 || cmds[0].Verb != commands.VerbStatus || cmds[0].App != "web" {
		t.Errorf("posts: got\n%s\noffering %+v; want status web, marked", got, cmds)
	}
	if strings.Contains(got, "Rolled back web/production") {
		t.Errorf("posts: got\n%s\nwant no rolled-back message", got)
	}
}

// TestAutomaticRollbackOutcomeOutlivesTheWatch: a bot told to stop while
// its automatic rollback runs ends the watch at once, but the engine lets
// the rollback finish: how it ended is audited and posted all the same,
// once, and the channel is not told that nothing rolls the deploy back.
func TestAutomaticRollbackOutcomeOutlivesTheWatch(t *testing.T) {
	tests := []struct {
		name string
		stop bool // the watcher is closed before the rollback ends
	}{
		{"the watch waits for it", false},
		{"the bot stops while it runs", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
			clk := testclock.New(t0)
			fs := &scriptedSentry{spikeFrom: t0, spikeTo: t0.Add(time.Hour)}
			e := &env{current: "2", held: make(chan deploy.Sink, 1), now: clk.Now}
			out := &posts{}
			w := newWatcher(t, fs, e, out, clk)
			defer w.Close()
			e.ran(w, &deploy.Record{ID: "d2", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "1",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-time.Minute), Finished: t0, Channel: "#deploys"})
			var sink deploy.Sink
			select {
			case sink = <-e.held:
			case <-time.After(10 * time.Second):
				t.Fatal("no automatic rollback started")
			}
			if tt.stop {
				closed := make(chan struct{})
				go func() { w.Close(); close(closed) }() // SIGTERM of a rolling update
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					t.Fatal("Close waited for the rollback; the engine's drain does")
				}
			}
			// As the engine does: from the run's goroutine, which its
			// drain waits for.
			sink(deploy.Event{Kind: deploy.EventFinished, App: "web", Env: "production", Record: &deploy.Record{ID: "rb1",
				Kind: deploy.KindRollback, App: "web", Env: "production", Build: "1", Previous: "2", Outcome: deploy.OutcomeSucceeded}})
			w.Wait()

			e.mu.Lock()
			var all []string
			for _, a := range e.audited {
				all = append(all, a.Action+": "+a.Reason)
			}
			e.mu.Unlock()
			start := slices.IndexFunc(all, func(s string) bool { return strings.HasPrefix(s, "rollback: automatic rollback rb1: error spike") })
			end := slices.Index(all, "rollback: automatic rollback rb1 finished: succeeded")
			if start < 0 || end < start {
				t.Errorf("audit entries %q: want the rollback's start, then its outcome", all)
			}
			if n := strings.Count(strings.Join(all, "\n"), "rb1 finished"); n != 1 {
				t.Errorf("audit entries %q: got the outcome %d times, want once", all, n)
			}
			got := out.titles()
			if n := strings.Count(got, "Rolled back web/production to 1 by itself (succeeded)"); n != 1 {
				t.Errorf("posts %q: got the outcome %d times, want once", got, n)
			}
			if strings.Contains(got, "nothing rolls it back by itself") {
				t.Errorf("posts %q: the rollback under way was denied", got)
			}
		})
	}
}

// TestWatchStoppedByShutdownSaysSo: a bot stopping in the middle of a
// watch says that nothing watches the deploy any more.
func TestWatchStoppedByShutdownSaysSo(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	clk := testclock.New(t0)
	fs := &scriptedSentry{}
	e := &env{current: "2"}
	out := &posts{}
	w := newWatcher(t, fs, e, out, clk)
	var once sync.Once
	fs.onPoll = func(ctx context.Context, start time.Time) error {
		if start.Before(t0) {
			return nil
		}
		once.Do(func() { go w.Close() }) // SIGTERM of a rolling update
		<-ctx.Done()
		return ctx.Err()
	}
	e.ran(w, &deploy.Record{ID: "d2", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "1",
		Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-time.Minute), Finished: t0, Channel: "#deploys"})
	w.Wait()
	if got := out.titles(); !strings.Contains(got, "Error watch of web 2 on production stopped: the bot is shutting down") {
		t.Errorf("posts %q: want the watch's end announced", got)
	}
}

// TestAutomaticRollbackRefusedIsARefusal: an automatic rollback the engine
// refuses is in the audit log as refused, with the reason, as any
// command the bot refuses is: a search of the log for refusals finds it.
func TestAutomaticRollbackRefusedIsARefusal(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	clk := testclock.New(t0)
	fs := &scriptedSentry{spikeFrom: t0, spikeTo: t0.Add(time.Hour)}
	// Build 3 runs now, put there by hand: the engine refuses to roll
	// back from 2.
	e := &env{current: "3", outcome: deploy.OutcomeSucceeded}
	w := newWatcher(t, fs, e, &posts{}, clk)
	defer w.Close()
	e.ran(w, &deploy.Record{ID: "d2", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "1",
		Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-time.Minute), Finished: t0, Channel: "#deploys"})
	w.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	var got []string
	for _, a := range e.audited {
		got = append(got, fmt.Sprintf("%s %s (%s): %s", a.Decision, a.Action, a.Command, a.Reason))
	}
	// Refused, it went nowhere: the entry names the release it would
	// have left, not a rollback to it.
	want := "refused rollback (rollback web/production from 2): automatic rollback refused: runs 3 now, not 2"
	if !slices.Contains(got, want) {
		t.Errorf("audit entries %q: want %q", got, want)
	}
}

// spikeRolledBack has deploy d2 of web 2 (from 1) finish in e, with
// Sentry showing a spike right after it, waits for the watch to end, and
// checks that it asked for one rollback. It returns with e locked until
// the test ends, for the test to read what e recorded.
func spikeRolledBack(t *testing.T, e *env, out *posts) {
	t.Helper()
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	fs := &scriptedSentry{spikeFrom: t0, spikeTo: t0.Add(time.Hour)}
	w := newWatcher(t, fs, e, out, testclock.New(t0))
	e.ran(w, &deploy.Record{ID: "d2", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "1",
		Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-time.Minute), Finished: t0, Channel: "#deploys"})
	w.Wait()
	w.Close()
	e.mu.Lock()
	t.Cleanup(e.mu.Unlock)
	if len(e.reqs) != 1 {
		t.Fatalf("rollbacks: %+v, want one", e.reqs)
	}
}

// TestAutomaticRollbackSaysWhetherItLocked: the report of an automatic
// rollback says the app+env is locked only when the rollback locked it;
// one that ended before its lock (its hosts unreachable, say), or could
// not write it, says that nothing stops deploys.
func TestAutomaticRollbackSaysWhetherItLocked(t *testing.T) {
	tests := []struct {
		name     string
		outcome  deploy.Outcome
		unlocked bool
		want     string
		// wantCmd is the command offered, as it parses.
		wantCmd commands.Command
	}{
		{"locked", deploy.OutcomeSucceeded, false, "web/production is locked until someone unlocks it: " + suggest.Command("unlock deploys web production"),
			commands.Command{Verb: commands.VerbUnlock, App: "web", Env: "production"}},
		{"failed before its lock", deploy.OutcomeFailed, true, "web/production is NOT locked: the rollback did not lock it, so deploys of it are not stopped (to stop them: " + suggest.Command(`lock deploys web production "rolled back from 2 by itself"`) + ")",
			commands.Command{Verb: commands.VerbLock, App: "web", Env: "production", Reason: "rolled back from 2 by itself"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{current: "2", outcome: tt.outcome, unlocked: tt.unlocked}
			out := &posts{}
			spikeRolledBack(t, e, out)
			got := out.titles()
			if !strings.Contains(got, tt.want) {
				t.Errorf("posts:\n%s\nwant %q", got, tt.want)
			}
			if tt.unlocked && strings.Contains(got, "is locked until") {
				t.Errorf("posts:\n%s\nsay it is locked", got)
			}
			var offered []commands.Command
			for _, c := range suggested(t, got) {
				if c.Verb == commands.VerbLock || c.Verb == commands.VerbUnlock {
					offered = append(offered, c)
				}
			}
			if len(offered) != 1 || offered[0].Verb != tt.wantCmd.Verb || offered[0].App != tt.wantCmd.App || offered[0].Env != tt.wantCmd.Env || offered[0].Reason != tt.wantCmd.Reason {
				t.Errorf("lock or unlock offered: got %+v, want %+v", offered, tt.wantCmd)
			}
		})
	}
}

// TestWatchEndSaysWhatItDidNotJudge: a watch whose last reads fail, its
// inconclusive report said once already, or whose baseline never came,
// tells the channel once, at its end, which intervals it never judged,
// and rolls nothing back.
func TestWatchEndSaysWhatItDidNotJudge(t *testing.T) {
	tests := []struct {
		name string
		fail func(read int) bool // read 0 is the baseline; 1…15 those of 10:00 … 10:14
		want string              // the last post's title
	}{
		{"the last two reads fail after an earlier failure", func(n int) bool { return n == 2 || n >= 14 },
			"Error watch of web 2 on production ended with the intervals from 10:13 UTC to 10:15 UTC not judged"},
		{"only the last read fails, after an earlier failure", func(n int) bool { return n == 2 || n == 15 },
			"Error watch of web 2 on production ended with the intervals from 10:14 UTC to 10:15 UTC not judged"},
		{"the baseline never came", func(int) bool { return true },
			"Error watch of web 2 on production ended without a baseline; nothing was judged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
			clk := testclock.New(t0)
			fs := &scriptedSentry{spikeFrom: t0.Add(-time.Hour), spikeTo: t0.Add(-time.Hour)}
			var reads atomic.Int32
			fs.onPoll = func(_ context.Context, start time.Time) error {
				n := 0
				if !start.Before(t0) {
					n = int(reads.Add(1))
				}
				if tt.fail(n) {
					return errs.Wrap(errs.Unavailable, errors.New("502"), "Sentry is failing")
				}
				return nil
			}
			e := &env{current: "2", outcome: deploy.OutcomeSucceeded}
			out := &posts{}
			w := newWatcher(t, fs, e, out, clk)
			defer w.Close()
			e.ran(w, &deploy.Record{ID: "d2", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "1",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-time.Minute), Finished: t0, Channel: "#deploys"})
			w.Wait()
			posted := strings.Split(out.titles(), "\n")
			if got := strings.Count(out.titles(), "is inconclusive"); got != 1 {
				t.Errorf("inconclusive reports: got %d, want 1:\n%s", got, out.titles())
			}
			if last := posted[len(posted)-1]; !strings.HasPrefix(last, tt.want+" | ") || !strings.Contains(last, "nor rolls it back by itself") {
				t.Errorf("last post: got %q, want %q, saying nothing rolls back", last, tt.want)
			}
			if strings.Count(out.titles(), "Error watch of web 2 on production ended") != 1 {
				t.Errorf("the end is said more than once:\n%s", out.titles())
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			if len(e.reqs) != 0 {
				t.Errorf("rolled back %+v", e.reqs)
			}
		})
	}
}

// TestRollbackWatchedAgainstTheDeployItRolledBack: deploy 2 brings 60
// errors a minute, which go on after the rollback to 1 half an hour
// later. The rollback's watch judges against the hour before deploy 2,
// not the hour before the rollback, which holds the spike and would hide
// it; one of a rollback of a rollback follows the chain to the deploy.
func TestRollbackWatchedAgainstTheDeployItRolledBack(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	d2 := &deploy.Record{ID: "d2", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "1",
		Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-time.Minute), Finished: t0, Channel: "#deploys"}
	tests := []struct {
		name       string
		before     []*deploy.Record // newest first, before the rollback
		rb         *deploy.Record
		wantBase   time.Time // the baseline read's start
		wantPosted string    // "" for no spike
	}{
		{"a rollback of the deploy", []*deploy.Record{d2},
			&deploy.Record{ID: "rb", Kind: deploy.KindRollback, App: "web", Env: "production", Build: "1", Previous: "2",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(30 * time.Minute), Finished: t0.Add(31 * time.Minute), Channel: "#deploys"},
			d2.Started.Add(-time.Hour),
			"📈 Error spike after the rollback of web/production to 1: 60.0 errors/min (before the deploy it rolled back: 1.0/min)"},
		// Deploy 3 brings the errors; the rollback to 2 does not stop
		// them, nor the one further back to 1, watched against the hour
		// before deploy 3. A run of 2 that left it not running is passed.
		{"a rollback of a rollback", []*deploy.Record{
			{ID: "rb0", Kind: deploy.KindRollback, App: "web", Env: "production", Build: "2", Previous: "3",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(10 * time.Minute), Finished: t0.Add(11 * time.Minute)},
			{ID: "d2b", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "3",
				Outcome: deploy.OutcomeFailed, Started: t0.Add(5 * time.Minute), Finished: t0.Add(6 * time.Minute)},
			{ID: "d3", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "3", Previous: "2",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-time.Minute), Finished: t0},
			{ID: "d2", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2", Previous: "1",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(-3 * time.Hour), Finished: t0.Add(-3*time.Hour + time.Minute)}},
			&deploy.Record{ID: "rb", Kind: deploy.KindRollback, App: "web", Env: "production", Build: "1", Previous: "2",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(30 * time.Minute), Finished: t0.Add(31 * time.Minute), Channel: "#deploys"},
			t0.Add(-time.Minute - time.Hour),
			"📈 Error spike after the rollback of web/production to 1: 60.0 errors/min (before the deploy it rolled back: 1.0/min)"},
		{"the deploy not in the history", nil,
			&deploy.Record{ID: "rb", Kind: deploy.KindRollback, App: "web", Env: "production", Build: "1", Previous: "2",
				Outcome: deploy.OutcomeSucceeded, Started: t0.Add(30 * time.Minute), Finished: t0.Add(31 * time.Minute), Channel: "#deploys"},
			t0.Add(30*time.Minute - time.Hour), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testclock.New(tt.rb.Finished)
			fs := &scriptedSentry{spikeFrom: t0, spikeTo: t0.Add(2 * time.Hour)}
			var mu sync.Mutex
			var starts []time.Time
			fs.onPoll = func(_ context.Context, start time.Time) error {
				mu.Lock()
				starts = append(starts, start)
				mu.Unlock()
				return nil
			}
			e := &env{current: "1", outcome: deploy.OutcomeSucceeded, records: slices.Clone(tt.before)}
			out := &posts{}
			w := newWatcher(t, fs, e, out, clk)
			defer w.Close()
			e.ran(w, tt.rb)
			w.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(starts) == 0 || !starts[0].Equal(tt.wantBase) {
				t.Fatalf("baseline read from: got %v, want %v", starts, tt.wantBase)
			}
			got := out.titles()
			if tt.wantPosted == "" {
				if strings.Contains(got, "Error spike") {
					t.Errorf("posts: got a spike, want none (the spike hides in the hour before the rollback):\n%s", got)
				}
				return
			}
			if !strings.Contains(got, tt.wantPosted) {
				t.Errorf("posts: got\n%s\nwant %q", got, tt.wantPosted)
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			if len(e.reqs) != 0 {
				t.Errorf("the rollback's spike rolled back further: %+v", e.reqs)
			}
		})
	}
}
