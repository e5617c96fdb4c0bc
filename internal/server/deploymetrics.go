package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/ratelog"
)

// DeployMetrics count deploys and rollbacks from the engine's events. It is
// safe for concurrent use; Observe is a deploy.Sink.
type DeployMetrics struct {
	deploys   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	rollbacks *prometheus.CounterVec
	refused   *prometheus.CounterVec
	locks     *locksGauge
}

// NewDeployMetrics registers with reg:
//
//	switchman_deploys_total{app,env,outcome}         finished deploys
//	switchman_deploy_duration_seconds{app,env,kind}  how long deploys and rollbacks took (interrupted and unchanged ones are not timed)
//	switchman_rollbacks_total{app,env,outcome}       finished rollbacks
//	switchman_active_locks                           locks in force (read from the store)
//	switchman_commands_refused_total{reason}         commands refused, by one of commands.RefusalReasons
//
// locks counts the locks in force; when it fails the scrape has no
// switchman_active_locks sample (and the error is logged): a 0 would say
// that no lock is in force while the store cannot tell.
func NewDeployMetrics(reg prometheus.Registerer, locks func(ctx context.Context) (int, error), log *slog.Logger) *DeployMetrics {
	m := &DeployMetrics{
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchman_deploys_total", Help: "Finished deploys by app, env and outcome.",
		}, []string{"app", "env", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchman_deploy_duration_seconds", Help: "Duration of finished deploys and rollbacks; interrupted and unchanged ones are not timed.",
			// From 50 ms: a rollback takes tens to hundreds of
			// milliseconds, a small deploy under a second.
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600},
		}, []string{"app", "env", "kind"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchman_rollbacks_total", Help: "Finished rollbacks by app, env and outcome.",
		}, []string{"app", "env", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchman_commands_refused_total", Help: "Commands refused, by reason: invalid, not_found, conflict, forbidden, unavailable, internal, draining, cut_short or unaudited.",
		}, []string{"reason"}),
	}
	// At 0 from the start, as the deploy counters (see Known): the set
	// of reasons is fixed.
	for _, r := range commands.RefusalReasons {
		m.refused.WithLabelValues(r)
	}
	gauge := &locksGauge{
		desc:  prometheus.NewDesc("switchman_active_locks", "Deploy locks in force.", nil, nil),
		locks: locks, log: log,
	}
	m.locks = gauge
	reg.MustRegister(m.deploys, m.duration, m.rollbacks, m.refused, gauge)
	return m
}

// Flush writes the last "metrics: count locks" WARN held back, with how
// many it stands for, as the end of its window would: a bot that stops
// calls it once /metrics is no longer served, so as not to lose it.
func (m *DeployMetrics) Flush() { m.locks.limit.Flush() }

// locksGauge reads the number of locks in force from the store at each
// scrape.
type locksGauge struct {
	desc  *prometheus.Desc
	locks func(ctx context.Context) (int, error)
	log   *slog.Logger
	// limit bounds the WARNs of failed reads: anyone who reaches the
	// listener may scrape as fast as they like while the store is down.
	limit ratelog.Limiter
}

func (g *locksGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect sends nothing when the store cannot be read: the series is
// absent from that scrape (absent() alerts on it), the others are kept.
// The failure is logged at most once per ratelog window (suppressed=N).
func (g *locksGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := g.locks(ctx)
	if err != nil {
		g.limit.Warn(g.log, "metrics-locks", "metrics: count locks", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n))
}

// finalOutcomes are the outcomes a run may end with.
var finalOutcomes = []deploy.Outcome{deploy.OutcomeSucceeded, deploy.OutcomeFailed, deploy.OutcomePartial,
	deploy.OutcomeReverted, deploy.OutcomeCancelled, deploy.OutcomeInterrupted, deploy.OutcomeUnchanged}

// Known creates the deploy and rollback counters of app/env at 0, one per
// outcome. A counter first seen at 1 has no earlier sample, so
// increase() and rate() miss the increment that made it: an alert on
// failed deploys would miss the first failure of each app/env after
// every start of every replica. Call it for each app/env of the config.
func (m *DeployMetrics) Known(app, env string) {
	for _, o := range finalOutcomes {
		m.deploys.WithLabelValues(app, env, string(o))
		m.rollbacks.WithLabelValues(app, env, string(o))
	}
}

var _ commands.RefusalCounter = (*DeployMetrics)(nil)

// Refused counts a refused command; it is a commands.RefusalCounter.
func (m *DeployMetrics) Refused(reason string) {
	m.refused.WithLabelValues(reason).Inc()
}

// Observe counts a finished deploy or rollback, and times it unless it
// was interrupted or changed nothing (unchanged).
func (m *DeployMetrics) Observe(ev deploy.Event) {
	if ev.Kind != deploy.EventFinished || ev.Record == nil {
		return
	}
	r := ev.Record
	// As chat, status and the audit log say it: a first deploy that
	// failed its health check switched nothing back, so it is "failed",
	// not "reverted".
	said := string(r.Said())
	if r.Kind == deploy.KindRollback {
		m.rollbacks.WithLabelValues(r.App, r.Env, said).Inc()
	} else {
		m.deploys.WithLabelValues(r.App, r.Env, said).Inc()
	}
	switch r.Outcome {
	case deploy.OutcomeInterrupted:
		// Its end is when a bot found its process dead, which may be
		// days after it stopped: not how long it took, so it is not
		// timed, as stats does not time it either.
		return
	case deploy.OutcomeUnchanged:
		// It changed nothing, which stats counts as neither a deploy
		// nor a rollback; the histogram has no outcome label to leave
		// it out by, so its time of reaching the hosts is kept out of
		// the quantiles of the runs that did change something.
		return
	}
	m.duration.WithLabelValues(r.App, r.Env, string(r.Kind)).Observe(r.Duration(r.Finished).Seconds())
}

// StatsD sends a deploy marker for every finished deploy and rollback to a
// StatsD server over UDP: a counter switchman.deploys.APP.ENV.OUTCOME and
// an event (the DogStatsD _e format, which Datadog and Graphite's statsd
// bridges understand) titled with the version and stamped with the time.
// It is safe for concurrent use.
type StatsD struct {
	Addr string
	Log  *slog.Logger

	// dial dials Addr; nil: a net.Dialer bounded by statsdTimeout.
	dial func(network, addr string) (net.Conn, error)

	mu      sync.Mutex
	sending int
	// idle is closed once no marker is being sent; nil while none is.
	idle chan struct{}
}

// Observe sends the marker of a finished deploy; failures are logged, never
// fatal.
func (s *StatsD) Observe(ev deploy.Event) {
	if ev.Kind != deploy.EventFinished || ev.Record == nil {
		return
	}
	// Observers must not block the deploy's events: resolving the
	// address may wait on DNS.
	s.mu.Lock()
	if s.sending == 0 {
		s.idle = make(chan struct{})
	}
	s.sending++
	s.mu.Unlock()
	go func() {
		defer s.done()
		s.send(ev.Record)
	}()
}

func (s *StatsD) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sending--
	if s.sending == 0 {
		close(s.idle)
		s.idle = nil
	}
}

// Wait waits for the markers being sent, at most statsdTimeout, which
// bounds each send: a stopping bot calls it before it exits, which would
// otherwise lose the marker of a deploy that finished as it stopped.
func (s *StatsD) Wait() {
	s.mu.Lock()
	idle, n := s.idle, s.sending
	s.mu.Unlock()
	if idle == nil {
		return
	}
	t := time.NewTimer(statsdTimeout)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		s.Log.Warn("statsd: markers still being sent at exit are lost", "addr", s.Addr, "markers", n, "waited", statsdTimeout)
	}
}

// statsdTimeout bounds resolving and dialing the StatsD address.
const statsdTimeout = 2 * time.Second

func (s *StatsD) send(r *deploy.Record) {
	dial := s.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: statsdTimeout}).Dial
	}
	conn, err := dial("udp", s.Addr)
	if err != nil {
		s.Log.Warn("statsd", "addr", s.Addr, "err", err)
		return
	}
	defer conn.Close()
	metric := strings.Join([]string{"switchman", string(r.Kind) + "s", clean(r.App), clean(r.Env), string(r.Said())}, ".")
	title := fmt.Sprintf("%s %s@%s to %s", r.Kind, r.App, r.Build, r.Env)
	text := fmt.Sprintf("%s by %s: %s", r.ID, r.Requester, r.SaidText())
	payload := fmt.Sprintf("%s:1|c\n_e{%d,%d}:%s|%s|d:%d|t:%s|k:%s", metric, len(title), len(text), title, text,
		r.Finished.Unix(), alertType(r.Outcome), r.ID)
	if _, err := conn.Write([]byte(payload)); err != nil {
		s.Log.Warn("statsd", "addr", s.Addr, "err", err)
	}
}

// alertType is the event's DogStatsD alert type: a run that changed
// nothing, or was cancelled on request with its hosts restored, did not
// fail, and an event monitor on errors must not take it for a failure.
func alertType(o deploy.Outcome) string {
	switch o {
	case deploy.OutcomeSucceeded:
		return "success"
	case deploy.OutcomeUnchanged, deploy.OutcomeCancelled:
		return "info"
	}
	return "error"
}

// clean keeps a metric path element free of StatsD's separators.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == ':' || r == '|' || r == '@' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
