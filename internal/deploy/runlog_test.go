package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// failingProgress fails the writes of records still running while on is
// set: a store that cannot keep a run's progress, which the run logs.
type failingProgress struct {
	deploy.Store
	on atomic.Bool
}

func (s *failingProgress) PutRecord(ctx context.Context, r *deploy.Record) error {
	if s.on.Load() && !r.Outcome.Done() && len(r.Hosts) > 0 && r.Hosts[0].State != deploy.HostPending {
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return s.Store.PutRecord(ctx, r)
}

// TestRunLogNamesTheRun: every line a deploy or rollback logs while it runs
// names the run, its app and its env, once each, so that the log of a bot
// running many apps' deploys can be read for one of them (a record write
// that failed, a release that could not be marked bad).
func TestRunLogNamesTheRun(t *testing.T) {
	for _, kind := range []deploy.Kind{deploy.KindDeploy, deploy.KindRollback} {
		t.Run(string(kind), func(t *testing.T) {
			var log syncbuf.Buffer
			store := &failingProgress{}
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				store.Store = o.Store
				o.Store = store
				o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			f.build("1")
			f.build("2")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			build := "2"
			if kind == deploy.KindRollback {
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
				build = ""
			}
			before := len(log.String())
			store.on.Store(true)
			rec, err := f.run(kind, build)
			if err != nil {
				t.Fatal(err)
			}
			logged := log.String()[before:]
			lines := strings.Split(strings.TrimSpace(logged), "\n")
			if !strings.Contains(logged, "persist deploy record") {
				t.Fatalf("log: got %q, want a failed record write logged", lines)
			}
			for _, line := range lines {
				for _, attr := range []string{"deploy=" + rec.ID, "app=web", "env=prod"} {
					if n := strings.Count(line, " "+attr); n != 1 {
						t.Errorf("log line %q: got %s %d times, want once", line, attr, n)
					}
				}
			}
		})
	}
}

// TestRunEndLogged: every run logs its start once, at INFO, with its
// kind, build, requester and number of hosts, and its end once, with its
// outcome and duration: INFO when it did what was asked, WARN otherwise,
// so that a bot logging at warn still shows the runs that went wrong, and
// a run that never ends shows in the log alone.
func TestRunEndLogged(t *testing.T) {
	var log syncbuf.Buffer
	f := newFixtureWith(t, failingHealth(fmt.Sprintf(fixtureYAML, "true")), func(o *deploy.Options) {
		o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f.build("1")
	f.build("2")
	f.build("3", tarEntry{name: "BROKEN", body: "x"})
	for _, tt := range []struct {
		name  string
		kind  deploy.Kind
		build string
		want  deploy.Outcome
		line  string
		start string
	}{
		{"succeeded", deploy.KindDeploy, "1", deploy.OutcomeSucceeded, "level=INFO msg=\"deploy ended\"", "level=INFO msg=\"deploy started\""},
		{"second succeeded", deploy.KindDeploy, "2", deploy.OutcomeSucceeded, "level=INFO msg=\"deploy ended\"", "level=INFO msg=\"deploy started\""},
		{"rollback succeeded", deploy.KindRollback, "", deploy.OutcomeSucceeded, "level=INFO msg=\"rollback ended\"", "level=INFO msg=\"rollback started\""},
		{"reverted", deploy.KindDeploy, "3", deploy.OutcomeReverted, "level=WARN msg=\"deploy ended\"", "level=INFO msg=\"deploy started\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(log.String())
			rec := f.mustRun(tt.kind, tt.build, tt.want)
			var starts, ends []string
			for _, line := range strings.Split(log.String()[before:], "\n") {
				if strings.Contains(line, " started") {
					starts = append(starts, line)
				}
				if strings.Contains(line, " ended") {
					ends = append(ends, line)
				}
			}
			if len(starts) != 1 {
				t.Fatalf("log: got %d lines of the run's start %q, want 1", len(starts), starts)
			}
			for _, want := range []string{tt.start, "deploy=" + rec.ID, "kind=" + string(tt.kind), "build=" + rec.Build, "requester=ana", "hosts=1"} {
				if !strings.Contains(starts[0], want) {
					t.Errorf("log line %q: want %s", starts[0], want)
				}
			}
			if len(ends) != 1 {
				t.Fatalf("log: got %d lines of the run's end %q, want 1", len(ends), ends)
			}
			for _, want := range []string{tt.line, "deploy=" + rec.ID, "outcome=" + string(tt.want), "duration="} {
				if !strings.Contains(ends[0], want) {
					t.Errorf("log line %q: want %s", ends[0], want)
				}
			}
		})
	}
}

// TestFirstDeployEndLoggedFailed: a first deploy that fails its health
// check switched its host and had nothing to switch it back to: its
// record says reverted, but the host runs the failing build, and the log
// says failed, as chat does, naming the recorded outcome beside it for
// whoever matches the log with stats and metrics. One that did switch its
// host back logs reverted alone.
func TestFirstDeployEndLoggedFailed(t *testing.T) {
	var log syncbuf.Buffer
	f := newFixtureWith(t, failingHealth(fmt.Sprintf(fixtureYAML, "true")), func(o *deploy.Options) {
		o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f.build("1")
	f.build("3", tarEntry{name: "BROKEN", body: "x"})
	for _, tt := range []struct {
		name  string
		build string
		want  deploy.Outcome
		said  []string
		never string
	}{
		{"first release", "3", deploy.OutcomeReverted, []string{"outcome=failed", "recorded_outcome=reverted"}, " outcome=reverted"},
		{"succeeded", "1", deploy.OutcomeSucceeded, []string{"outcome=succeeded"}, "recorded_outcome"},
		{"switched back", "3", deploy.OutcomeReverted, []string{"outcome=reverted"}, "recorded_outcome"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(log.String())
			f.mustRun(deploy.KindDeploy, tt.build, tt.want)
			var ends []string
			for _, line := range strings.Split(log.String()[before:], "\n") {
				if strings.Contains(line, "msg=\"deploy ended\"") {
					ends = append(ends, line)
				}
			}
			if len(ends) != 1 {
				t.Fatalf("log: got %d lines of the run's end %q, want 1", len(ends), ends)
			}
			for _, want := range tt.said {
				if !strings.Contains(ends[0], " "+want) {
					t.Errorf("log line %q: want %s", ends[0], want)
				}
			}
			if strings.Contains(ends[0], tt.never) {
				t.Errorf("log line %q: got %q, want none", ends[0], tt.never)
			}
		})
	}
}

// slowLeases holds Acquire until wait returns: a store slow to grant the
// app+env lease. seen is what the log held as Acquire was called.
type slowLeases struct {
	deploy.Leaser
	log  *syncbuf.Buffer
	seen string
	wait func()
}

func (l *slowLeases) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	l.seen = l.log.String()
	l.wait()
	return l.Leaser.Acquire(ctx, key, holder, ttl)
}

// TestRunStartLoggedBeforeTheLease: a run logs its request (its id, app,
// env, kind, build and requester) before it takes the lease, and, while it
// takes long to start, what it waits for: a deploy that hung taking the
// lease or opening its hosts logged nothing at all, its start being
// logged once recorded.
func TestRunStartLoggedBeforeTheLease(t *testing.T) {
	for _, kind := range []deploy.Kind{deploy.KindDeploy, deploy.KindRollback} {
		t.Run(string(kind), func(t *testing.T) {
			var log syncbuf.Buffer
			leases := &slowLeases{log: &log, wait: func() {}}
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				leases.Leaser = o.Leases
				o.Leases = leases
				o.SlowStart = time.Millisecond
				o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			f.build("1")
			f.build("2")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			build := "2"
			if kind == deploy.KindRollback {
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
				build = ""
			}
			// Held until the run says what it waits for.
			var waiting string
			before := len(log.String())
			leases.wait = func() {
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
					for _, line := range strings.Split(log.String()[before:], "\n") {
						if strings.Contains(line, string(kind)+" still starting") {
							waiting = line
							return
						}
					}
				}
			}
			rec := f.mustRun(kind, build, deploy.OutcomeSucceeded)
			var requested string
			for _, line := range strings.Split(leases.seen[before:], "\n") {
				if strings.Contains(line, string(kind)+" requested") {
					requested = line
				}
			}
			for _, want := range []string{"level=INFO", "deploy=" + rec.ID, "app=web", "env=prod", "kind=" + string(kind), "build=" + build, "requester=ana"} {
				if !strings.Contains(requested, want) {
					t.Errorf("log as the lease was taken: got request line %q, want %s in it", requested, want)
				}
			}
			for _, want := range []string{"level=WARN", "deploy=" + rec.ID, "app=web", "env=prod", "requester=ana", `waiting_for="taking the lease"`, "waited="} {
				if !strings.Contains(waiting, want) {
					t.Errorf("log while the lease was held up: got %q, want %s in it", waiting, want)
				}
			}
		})
	}
}

// loggingTransport logs, as a transport does, through the logger the
// context it is given carries (deploy.LogFrom), on every Open and Run.
type loggingTransport struct {
	deploy.Transport
	log *slog.Logger
}

func (t loggingTransport) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	deploy.LogFrom(ctx, t.log).Info("transport: open", "host", h.Name)
	s, err := t.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return loggingSession{Session: s, log: t.log}, nil
}

type loggingSession struct {
	deploy.Session
	log *slog.Logger
}

func (s loggingSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	deploy.LogFrom(ctx, s.log).Info("transport: run")
	return s.Session.Run(ctx, cmd)
}

// TestTransportLinesNameTheRun: the context a run gives its transport
// carries the run's logger, so that what the transport logs (the SSH
// transport's logins, reused connections, hosts that stopped answering)
// names the deploy, its app and its env, as the run's own lines do.
func TestTransportLinesNameTheRun(t *testing.T) {
	var log syncbuf.Buffer
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Transports["local"] = loggingTransport{Transport: o.Transports["local"], log: o.Log}
	})
	f.build("1")
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	var opens, runs int
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if !strings.Contains(line, "transport: ") {
			continue
		}
		if strings.Contains(line, "transport: open") {
			opens++
		} else {
			runs++
		}
		if !strings.Contains(line, " deploy="+rec.ID+" app=web env=prod") {
			t.Errorf("transport log line %q: want deploy=%s app=web env=prod", line, rec.ID)
		}
	}
	if opens == 0 || runs == 0 {
		t.Errorf("transport lines: got %d opens and %d runs, want some of each", opens, runs)
	}
}

// TestRunNotStartedLogged: a run refused after its request was logged
// (here: every host runs the build already) logs why it did not start,
// so that no request logged reads as a run that hung.
func TestRunNotStartedLogged(t *testing.T) {
	var log syncbuf.Buffer
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	before := len(log.String())
	if _, err := f.run(deploy.KindDeploy, "1"); err == nil {
		t.Fatal("deploy of the build running already: want it refused")
	}
	var requested, notStarted []string
	for _, line := range strings.Split(log.String()[before:], "\n") {
		if strings.Contains(line, "deploy requested") {
			requested = append(requested, line)
		}
		if strings.Contains(line, "deploy not started") {
			notStarted = append(notStarted, line)
		}
	}
	if len(requested) != 1 || len(notStarted) != 1 {
		t.Fatalf("log: got requests %q and refusals %q, want one of each", requested, notStarted)
	}
	for _, want := range []string{"level=INFO", "app=web", "env=prod", "already runs build 1"} {
		if !strings.Contains(notStarted[0], want) {
			t.Errorf("log line %q: want %s", notStarted[0], want)
		}
	}
	id := strings.Fields(requested[0][strings.Index(requested[0], "deploy=")+len("deploy="):])[0]
	if !strings.Contains(notStarted[0], "deploy="+id) {
		t.Errorf("log line %q: want deploy=%s, the request's", notStarted[0], id)
	}
}
