package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

func finished(kind deploy.Kind, outcome deploy.Outcome) deploy.Event {
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	return deploy.Event{Kind: deploy.EventFinished, Record: &deploy.Record{ID: "20261123-120000-abcdef", Kind: kind, App: "web", Env: "prod",
		Build: "42", Requester: "ana", Outcome: outcome, Started: start, Finished: start.Add(90 * time.Second)}}
}

func TestDeployMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewDeployMetrics(reg, func(context.Context) (int, error) { return 2, nil }, slog.New(slog.DiscardHandler))
	m.Observe(finished(deploy.KindDeploy, deploy.OutcomeSucceeded))
	reverted := finished(deploy.KindDeploy, deploy.OutcomeReverted)
	reverted.Record.Hosts = []deploy.HostResult{{Host: "web-1", State: deploy.HostReverted}}
	m.Observe(reverted)
	// A first deploy that failed its health check: nothing to switch
	// back to, so "failed", as chat and the audit log say.
	m.Observe(finished(deploy.KindDeploy, deploy.OutcomeReverted))
	m.Observe(finished(deploy.KindRollback, deploy.OutcomeSucceeded))
	m.Observe(deploy.Event{Kind: deploy.EventStarted, Record: &deploy.Record{}})
	want := `
# HELP switchman_deploys_total Finished deploys by app, env and outcome.
# TYPE switchman_deploys_total counter
switchman_deploys_total{app="web",env="prod",outcome="failed"} 1
switchman_deploys_total{app="web",env="prod",outcome="reverted"} 1
switchman_deploys_total{app="web",env="prod",outcome="succeeded"} 1
# HELP switchman_rollbacks_total Finished rollbacks by app, env and outcome.
# TYPE switchman_rollbacks_total counter
switchman_rollbacks_total{app="web",env="prod",outcome="succeeded"} 1
# HELP switchman_active_locks Deploy locks in force.
# TYPE switchman_active_locks gauge
switchman_active_locks 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "switchman_deploys_total", "switchman_rollbacks_total", "switchman_active_locks"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "switchman_deploy_duration_seconds"); n != 2 {
		t.Errorf("duration series: got %d, want 2 (deploy, rollback)", n)
	}
}

// Rollbacks take tens to hundreds of milliseconds and small deploys under
// a second: the histogram must tell them apart, or every quantile of them
// is an interpolation inside its first bucket.
func TestDurationBucketsUnderASecond(t *testing.T) {
	tests := []struct {
		name     string
		duration time.Duration
		le       float64 // the smallest bucket that must count it
		below    float64 // a bucket that must not
	}{
		{name: "fast rollback", duration: 40 * time.Millisecond, le: 0.05, below: 0},
		{name: "rollback of a fleet", duration: 200 * time.Millisecond, le: 0.25, below: 0.1},
		{name: "small deploy", duration: 700 * time.Millisecond, le: 1, below: 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewDeployMetrics(reg, func(context.Context) (int, error) { return 0, nil }, slog.New(slog.DiscardHandler))
			ev := finished(deploy.KindRollback, deploy.OutcomeSucceeded)
			ev.Record.Finished = ev.Record.Started.Add(tt.duration)
			m.Observe(ev)
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			counts := map[float64]uint64{}
			for _, mf := range mfs {
				if mf.GetName() != "switchman_deploy_duration_seconds" {
					continue
				}
				for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
					counts[b.GetUpperBound()] = b.GetCumulativeCount()
				}
			}
			if got, ok := counts[tt.le]; !ok || got != 1 {
				t.Errorf("bucket le=%g: got %d (present %v), want 1; buckets %v", tt.le, got, ok, counts)
			}
			if tt.below > 0 {
				if got, ok := counts[tt.below]; !ok || got != 0 {
					t.Errorf("bucket le=%g: got %d (present %v), want 0; buckets %v", tt.below, got, ok, counts)
				}
			}
		})
	}
}

// A lock count the store cannot give is no sample at all: a 0 would read
// as "no lock in force" on a dashboard and silence an alert on a lock
// left in place, while the store is down.
func TestActiveLocksUnknown(t *testing.T) {
	tests := []struct {
		name string
		n    int
		err  error
		want string
	}{
		{name: "read", n: 3, want: "\n# HELP switchman_active_locks Deploy locks in force.\n# TYPE switchman_active_locks gauge\nswitchman_active_locks 3\n"},
		{name: "none", n: 0, want: "\n# HELP switchman_active_locks Deploy locks in force.\n# TYPE switchman_active_locks gauge\nswitchman_active_locks 0\n"},
		{name: "store unreachable", err: errors.New("dial tcp 127.0.0.1:6379: connect: connection refused"), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			NewDeployMetrics(reg, func(context.Context) (int, error) { return tt.n, tt.err }, slog.New(slog.DiscardHandler))
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want), "switchman_active_locks"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestStatsDMarker(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := &StatsD{Addr: pc.LocalAddr().String(), Log: slog.New(slog.DiscardHandler)}
	s.Observe(finished(deploy.KindDeploy, deploy.OutcomeSucceeded))
	buf := make([]byte, 2048)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := "switchman.deploys.web.prod.succeeded:1|c\n_e{21,40}:deploy web@42 to prod|20261123-120000-abcdef by ana: succeeded|d:1795435290|t:success|k:20261123-120000-abcdef"
	if got := string(buf[:n]); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestStatsDAlertType: an event is an error only for a run that failed;
// one that changed nothing (every host already on the build) or was
// cancelled on request, its hosts restored, shows as info, not as an
// error an event monitor would page on.
func TestStatsDAlertType(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := &StatsD{Addr: pc.LocalAddr().String(), Log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		outcome deploy.Outcome
		want    string
	}{
		{deploy.OutcomeSucceeded, "success"},
		{deploy.OutcomeUnchanged, "info"},
		{deploy.OutcomeCancelled, "info"},
		{deploy.OutcomeFailed, "error"},
		{deploy.OutcomePartial, "error"},
		{deploy.OutcomeReverted, "error"},
		{deploy.OutcomeInterrupted, "error"},
	} {
		t.Run(string(tc.outcome), func(t *testing.T) {
			s.Observe(finished(deploy.KindDeploy, tc.outcome))
			buf := make([]byte, 2048)
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(buf[:n]); !strings.Contains(got, "|t:"+tc.want+"|") {
				t.Errorf("got %q, want alert type %s", got, tc.want)
			}
		})
	}
}

// A run whose process died ends when the next bot finds it dead, which
// may be days later: timed, it would put that wait into the duration
// quantiles, as the stats command does not (see stats.Compute). It is
// still counted by outcome. So is a run that found every host on its
// release and changed nothing: stats leaves it out, as neither a deploy nor
// a rollback, and the histogram has no outcome label to leave it out by, so
// its few seconds of reaching the hosts would pull every quantile down.
func TestDurationLeavesOutInterrupted(t *testing.T) {
	tests := []struct {
		name    string
		kind    deploy.Kind
		outcome deploy.Outcome
		timed   bool
	}{
		{name: "deploy succeeded", kind: deploy.KindDeploy, outcome: deploy.OutcomeSucceeded, timed: true},
		{name: "deploy reverted", kind: deploy.KindDeploy, outcome: deploy.OutcomeReverted, timed: true},
		{name: "deploy interrupted", kind: deploy.KindDeploy, outcome: deploy.OutcomeInterrupted},
		{name: "rollback interrupted", kind: deploy.KindRollback, outcome: deploy.OutcomeInterrupted},
		{name: "deploy unchanged", kind: deploy.KindDeploy, outcome: deploy.OutcomeUnchanged},
		{name: "rollback unchanged", kind: deploy.KindRollback, outcome: deploy.OutcomeUnchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewDeployMetrics(reg, func(context.Context) (int, error) { return 0, nil }, slog.New(slog.DiscardHandler))
			ev := finished(tt.kind, tt.outcome)
			ev.Record.Finished = ev.Record.Started.Add(72 * time.Hour)
			m.Observe(ev)
			want := 0
			if tt.timed {
				want = 1
			}
			if n := testutil.CollectAndCount(reg, "switchman_deploy_duration_seconds"); n != want {
				t.Errorf("duration series: got %d, want %d", n, want)
			}
			counted := "switchman_deploys_total"
			if tt.kind == deploy.KindRollback {
				counted = "switchman_rollbacks_total"
			}
			if n := testutil.CollectAndCount(reg, counted); n != 1 {
				t.Errorf("%s series: got %d, want 1", counted, n)
			}
		})
	}
}

// TestActiveLocksWarnLimited: while the store cannot be read, scrapes of
// /metrics, which anyone who reaches the listener may send as fast as they
// like, log one WARN per window, not one each, as /healthz does.
func TestActiveLocksWarnLimited(t *testing.T) {
	var log syncbuf.Buffer
	g := &locksGauge{
		desc: prometheus.NewDesc("switchman_active_locks", "Deploy locks in force.", nil, nil),
		locks: func(context.Context) (int, error) {
			return 0, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
		},
		log: slog.New(slog.NewTextHandler(&log, nil)),
	}
	g.limit.Every = time.Hour // every scrape below falls in one window
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	for range 5 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(log.String(), "metrics: count locks"); n != 1 {
		t.Errorf("WARN lines for 5 failed scrapes: got %d, want 1:\n%s", n, log.String())
	}
}

// TestBuildInfo: switchman_build_info carries the version and the Go
// version, at 1, and passes promlint.
func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterBuildInfo(reg, "1.4.2")
	want := `# HELP switchman_build_info Always 1: the bot's version and the Go version it was built with.
# TYPE switchman_build_info gauge
switchman_build_info{goversion="` + runtime.Version() + `",version="1.4.2"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "switchman_build_info"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("promlint: got %v %v, want none", problems, err)
	}
}

// TestStatsDSaysTheOutcomeAsChatDoes: a first deploy that failed its
// health check switched nothing back: its marker says "failed", as chat
// and the audit log do, not "reverted".
func TestStatsDSaysTheOutcomeAsChatDoes(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := &StatsD{Addr: pc.LocalAddr().String(), Log: slog.New(slog.DiscardHandler)}
	ev := finished(deploy.KindDeploy, deploy.OutcomeReverted)
	ev.Record.Hosts = []deploy.HostResult{{Host: "web-1", State: deploy.HostFailed}}
	s.Observe(ev)
	buf := make([]byte, 2048)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := "switchman.deploys.web.prod.failed:1|c\n_e{21,37}:deploy web@42 to prod|20261123-120000-abcdef by ana: failed|d:1795435290|t:error|k:20261123-120000-abcdef"
	if got := string(buf[:n]); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestStatsDWaitsForMarkersInFlight: a stopping bot waits for the marker
// of a deploy that finished as it stopped, which its exit would otherwise
// lose while the send still resolves or dials the address; a send that
// hangs holds it up no longer than statsdTimeout.
func TestStatsDWaitsForMarkersInFlight(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	t.Run("sent before Wait returns", func(t *testing.T) {
		release := make(chan struct{})
		var written atomic.Bool
		s := &StatsD{Addr: pc.LocalAddr().String(), Log: slog.New(slog.DiscardHandler),
			dial: func(network, addr string) (net.Conn, error) {
				<-release
				c, err := net.Dial(network, addr)
				return writeMarked{Conn: c, written: &written}, err
			}}
		s.Observe(finished(deploy.KindDeploy, deploy.OutcomeSucceeded))
		waited := make(chan struct{})
		go func() {
			defer close(waited)
			s.Wait()
		}()
		select {
		case <-waited:
			t.Fatal("Wait returned while the marker was still being sent")
		case <-time.After(200 * time.Millisecond):
		}
		close(release)
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			t.Fatal("Wait did not return once the marker was sent")
		}
		if !written.Load() {
			t.Fatal("Wait returned before the marker was written")
		}
		buf := make([]byte, 2048)
		// A deadline already past fails the read without looking: room
		// for a goroutine parked on a loaded machine.
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("got no marker once Wait returned: %v", err)
		}
		if got, want := string(buf[:n]), "switchman.deploys.web.prod.succeeded:1|c\n"; !strings.HasPrefix(got, want) {
			t.Errorf("got %q, want it to start with %q", got, want)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		hang := make(chan struct{})
		defer close(hang)
		var logged syncbuf.Buffer
		s := &StatsD{Addr: pc.LocalAddr().String(), Log: slog.New(slog.NewTextHandler(&logged, nil)),
			dial: func(string, string) (net.Conn, error) {
				<-hang
				return nil, errors.New("gave up")
			}}
		s.Observe(finished(deploy.KindDeploy, deploy.OutcomeFailed))
		start := time.Now()
		s.Wait()
		// The dial hangs until the test ends, so returning at all shows
		// Wait gave up on it; only the lower bound is a fact of time.
		if took := time.Since(start); took < statsdTimeout {
			t.Errorf("Wait took %s, want at least its bound %s", took, statsdTimeout)
		}
		if want := "markers still being sent at exit are lost"; !strings.Contains(logged.String(), want) {
			t.Errorf("got log %q, want it to say %q", logged.String(), want)
		}
	})
}

// writeMarked is a connection that marks once a Write to it returned.
type writeMarked struct {
	net.Conn
	written *atomic.Bool
}

func (w writeMarked) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.written.Store(true)
	return n, err
}
