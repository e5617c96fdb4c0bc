// Package server is the bot's HTTP server: health and metrics for
// operators, the chat platforms' endpoints, and a graceful shutdown that
// lets running deploys finish and report before the process exits.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/ratelog"
)

// Defaults of Options and the server's fixed limits.
const (
	DefaultAddr         = "127.0.0.1:8080"
	DefaultMaxBody      = 64 << 10
	DefaultDrainTimeout = 5 * time.Minute
	defaultShutdown     = 10 * time.Second
	healthTimeout       = 2 * time.Second

	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// SlackEndpoints are the Slack adapter's HTTP handlers.
type SlackEndpoints interface {
	Commands() http.Handler
	Interactions() http.Handler
	// InteractionsMaxBody is the body limit of Interactions, which
	// carries the whole message a button is in.
	InteractionsMaxBody() int64
	Events() http.Handler
	// EventsMaxBody is the body limit of Events, whose mentions carry
	// their whole message.
	EventsMaxBody() int64
}

// Options configure a Server; the zero value serves /healthz on
// DefaultAddr.
type Options struct {
	// Addr is the listen address; default DefaultAddr. Ignored when
	// Listener is set.
	Addr     string
	Listener net.Listener
	// Registry is served at /metrics; nil: no /metrics.
	Registry *prometheus.Registry
	// MetricsListener, when set, serves /metrics and /healthz apart from
	// Listener, which then has no /metrics: the chat endpoints must be
	// reachable from Slack and Discord, the metrics, which name every
	// app and env, only from the scraper. Run closes it.
	MetricsListener net.Listener
	// MaxConns bounds the connections served at once on both listeners,
	// idle ones included; 0: no bound. Past it each listener holds one
	// more, unserved, and further ones wait in the kernel's backlog until
	// one closes: each open connection is a file, and connections anyone
	// can open must not take the files a running deploy needs for its
	// hosts. With a MetricsListener, a quarter of them (at least one, at
	// most 8) are its own, which those of Listener cannot take.
	MaxConns int
	// Metrics counts the requests of every route; nil: not counted.
	Metrics *Metrics
	// Health checks the state store for /healthz; nil: not checked. An
	// error that is (or wraps) a *StoreError names the store's condition;
	// any other says "unreachable".
	Health func(ctx context.Context) error
	// Clock reports why the replica's clock keeps it from taking leases
	// (deploys, recoveries): /healthz then answers 200 with status
	// "clock_skew" and the reason under "clock". nil: not checked.
	Clock func(ctx context.Context) error
	// HealthLog bounds how often a failed /healthz check is logged: an
	// orchestrator probes every few seconds, and an outage of the store
	// is logged by what it stops as well. Default: a ratelog.Limiter of
	// the server's own.
	HealthLog *ratelog.Limiter
	// Slack, when set, is mounted at /slack/commands, /slack/interactions
	// and /slack/events (Slack's HTTP mode).
	Slack SlackEndpoints
	// Recover, when set, runs once the server answers: the recovery of
	// what a stopped process left (deploys it left running, whose hosts
	// it reads, a host that hangs for up to a while), which held the
	// health endpoint and the chat routes unanswered for as long when it
	// ran first, past an orchestrator's probes. /healthz says status
	// "recovering" (200: the bot is alive) until it returns; its error
	// ends Run as a failure to serve does. Its ctx ends with Run's, and
	// Run waits for it to return before the drain.
	Recover func(ctx context.Context) error
	// Drain runs at shutdown once the routes mounted with Handle refuse
	// new requests and those in flight have ended: it stops the chat
	// adapters taking commands and waits for running deploys to finish
	// and post their final state. It is bounded by DrainTimeout (default
	// DefaultDrainTimeout). /healthz and /metrics are served until it
	// ends, on both listeners.
	Drain        func()
	DrainTimeout time.Duration
	// ShutdownTimeout bounds waiting for requests in flight; default 10 s.
	ShutdownTimeout time.Duration
	// MaxBody bounds every request body; default DefaultMaxBody.
	MaxBody int64
	Log     *slog.Logger
	// Early, when set, serves the listeners already, since before New:
	// Run takes them over from it rather than serve Listener and
	// MetricsListener itself, whose MaxConns bound it already applies.
	// MetricsListener must be set as it was for Early.
	Early *Early
}

// Server is the HTTP server. Mount handlers with Handle before Run.
type Server struct {
	opt Options
	mux *http.ServeMux
	srv *http.Server
	// metricsMux and metricsSrv serve MetricsListener; nil without it.
	metricsMux *http.ServeMux
	metricsSrv *http.Server

	// gate lets the requests of the routes mounted with Handle in until
	// the shutdown, and tells it when those in flight have ended.
	gate gate
	// draining is set from the shutdown on: /healthz says so.
	draining atomic.Bool
	// recovering is set from Run's start until Options.Recover
	// returns: /healthz says so.
	recovering atomic.Bool

	mu   sync.Mutex
	addr net.Addr
}

// New returns a server with /healthz, /metrics (with a Registry) and the
// Slack endpoints (with Slack) mounted.
func New(opt Options) *Server {
	if opt.Addr == "" {
		opt.Addr = DefaultAddr
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = DefaultDrainTimeout
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = defaultShutdown
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.HealthLog == nil {
		opt.HealthLog = &ratelog.Limiter{}
	}
	s := &Server{opt: opt, mux: http.NewServeMux(), gate: gate{idle: make(chan struct{})}}
	if opt.Early == nil {
		s.srv = newHTTPServer(s.opt.Metrics.unmatched(s.mux), opt.Log)
	}
	s.handle(s.mux, healthzPattern, http.HandlerFunc(s.health), opt.MaxBody)
	metrics := s.mux
	if opt.MetricsListener != nil {
		s.metricsMux = http.NewServeMux()
		if opt.Early == nil {
			s.metricsSrv = newHTTPServer(s.opt.Metrics.unmatched(s.metricsMux), opt.Log)
		}
		s.handle(s.metricsMux, healthzPattern, http.HandlerFunc(s.health), opt.MaxBody)
		metrics = s.metricsMux
	}
	if opt.Registry != nil {
		s.handle(metrics, metricsPattern, promhttp.HandlerFor(opt.Registry, promhttp.HandlerOpts{Registry: opt.Registry}), opt.MaxBody)
	}
	if opt.Slack != nil {
		s.Handle("POST /slack/commands", opt.Slack.Commands())
		s.HandleLimit("POST /slack/interactions", opt.Slack.Interactions(), max(opt.MaxBody, opt.Slack.InteractionsMaxBody()))
		s.HandleLimit("POST /slack/events", opt.Slack.Events(), max(opt.MaxBody, opt.Slack.EventsMaxBody()))
	}
	return s
}

// Handle mounts h at pattern (a net/http ServeMux pattern, such as
// "POST /discord/interactions"), with the body limit and the request
// counter every route has. Call it before Run. From the shutdown on, the
// route answers 503 without calling h: it is an entry point of new work,
// which a stopping bot no longer takes. An h that is a StoppingHandler
// answers then through its Stopping handler instead.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.HandleLimit(pattern, h, s.opt.MaxBody)
}

// HandleLimit is Handle with a body limit of the route's own: a Sentry
// event alert carries the whole event, often beyond the default.
func (s *Server) HandleLimit(pattern string, h http.Handler, maxBody int64) {
	s.handle(s.mux, pattern, s.gate.wrap(h), maxBody)
}

// handle mounts h on mux. The body limit wraps the counting, not the
// other way round: the limit tells net/http to close the connection once
// it is hit, which it can only do through the server's own writer, and
// without that net/http reads on up to 256 KiB more of a body nobody
// will use.
func (s *Server) handle(mux *http.ServeMux, pattern string, h http.Handler, maxBody int64) {
	mux.Handle(pattern, http.MaxBytesHandler(s.opt.Metrics.count(pattern, h), maxBody))
}

// newHTTPServer returns a server of h with the limits every listener has.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// The routes of /healthz and /metrics, which are their handler label in
// switchman_http_requests_total (Early's answers included).
const (
	healthzPattern = "GET /healthz"
	metricsPattern = "GET /metrics"
)

// Handler is the server's routing, for tests.
func (s *Server) Handler() http.Handler { return s.mux }

// Addr is the address the server listens on, nil before Run listens.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// healthBody is the answer of /healthz.
type healthBody struct {
	Status     string `json:"status"`
	Store      string `json:"store"`
	StoreError string `json:"store_error,omitempty"`
	Clock      string `json:"clock,omitempty"`
}

// StoreError is an error of Options.Health from a store that answered
// and refused the check: /healthz names Condition as its "store" rather
// than "unreachable", which would send an operator looking for a network
// fault while the store says what is wrong (a Redis at maxmemory, a
// replica, a password it no longer takes).
type StoreError struct {
	// Condition is a word of a fixed set, such as "refuses_writes",
	// "refused" or "reset".
	Condition string
	// Reply is the store's own code of its answer ("OOM", "NOAUTH"), or
	// empty; only capital letters are shown, never the text that may
	// follow it, since /healthz answers anyone.
	Reply string
	Err   error
}

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// storeCondition returns what /healthz says of the store that failed its
// check with err: its condition, and its reply's code when that is one
// word of at most 32 capital letters.
func storeCondition(err error) (condition, reply string) {
	var se *StoreError
	if !errors.As(err, &se) || se.Condition == "" {
		return "unreachable", ""
	}
	reply = se.Reply
	if len(reply) > 32 || strings.TrimLeft(reply, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		reply = ""
	}
	return se.Condition, reply
}

// health answers /healthz. A draining bot answers 200 with status
// "draining", not 503: it is alive and finishing deploys, and a liveness
// probe (or a Docker health check that has the container replaced) that
// took a 503 for death would kill it mid-deploy, which the drain exists
// to avoid. Its chat routes refuse new requests with a 503 of their own.
// The store's state keeps its meaning: a store that failed its check
// (unreachable, or refusing it) is a 503, draining or not.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	body, code := healthBody{Status: "ok", Store: "unchecked"}, http.StatusOK
	if s.opt.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		began := time.Now()
		if err := s.opt.Health(ctx); err != nil {
			condition, reply := storeCondition(err)
			if r.Context().Err() != nil {
				// The prober hung up before the store answered (Kubernetes
				// gives up after 1 s by default, under healthTimeout): that
				// cut the check short, which says the store is slow at
				// most, not unreachable.
				s.opt.HealthLog.Warn(s.opt.Log, "healthz-gave-up", "health check: the prober gave up before the state store answered", "waited", time.Since(began).Round(time.Millisecond), "err", err)
			} else {
				s.opt.HealthLog.Warn(s.opt.Log, "healthz", "health check: state store "+strings.ReplaceAll(condition, "_", " "), "err", err)
			}
			body, code = healthBody{Status: "unavailable", Store: condition, StoreError: reply}, http.StatusServiceUnavailable
		} else {
			body.Store = "ok"
		}
	}
	if s.opt.Clock != nil && code == http.StatusOK {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := s.opt.Clock(ctx); err != nil {
			body.Clock = errs.Message(err)
		}
	}
	switch {
	case s.draining.Load():
		body.Status = "draining"
	case body.Clock != "":
		// 200, not 503: a liveness probe would restart the replica, which
		// does not fix its clock, and stop the runs it still holds leases
		// of, which fencing keeps safe.
		body.Status = "clock_skew"
	case s.recovering.Load() && code == http.StatusOK:
		body.Status = "recovering"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// Run serves until ctx is done or serving fails, then shuts down
// gracefully: the routes mounted with Handle refuse new requests (503),
// it waits (bounded) for theirs in flight, and runs Drain (bounded by
// DrainTimeout) so that running deploys finish and post their final
// state, while /healthz (status "draining") and /metrics are still served:
// a deploy that ends during the drain is scraped, and a health check
// does not find the bot gone while it finishes one. Then it closes the
// listeners. It returns nil after a shutdown asked for by ctx, else what
// made serving fail.
func (s *Server) Run(ctx context.Context) error {
	// Set before the listeners are served, not when the recovery starts:
	// a probe answered in between would hear "ok" from a bot that has not
	// recovered yet.
	s.recovering.Store(s.opt.Recover != nil)
	if s.opt.Early != nil {
		public := s.opt.Metrics.unmatched(s.mux)
		internal := public
		if s.metricsMux != nil {
			internal = s.opt.Metrics.unmatched(s.metricsMux)
		}
		ln, mln, srv, metricsSrv, errc := s.opt.Early.takeOver(public, internal, s.opt.Metrics)
		s.srv, s.metricsSrv = srv, metricsSrv
		s.setAddr(ln, mln)
		return s.serve(ctx, errc)
	}
	ln := s.opt.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opt.Addr); err != nil {
			if s.opt.MetricsListener != nil {
				s.opt.MetricsListener.Close()
			}
			s.drain()
			return fmt.Errorf("listen on %s: %w", s.opt.Addr, err)
		}
	}
	mln := s.opt.MetricsListener
	s.setAddr(ln, mln)
	if s.opt.MaxConns > 0 {
		public, internal := splitConns(s.opt.MaxConns, mln != nil)
		ln = newLimitListener(ln, make(chan struct{}, public))
		if mln != nil {
			mln = newLimitListener(mln, make(chan struct{}, internal))
		}
	}
	errc := make(chan error, 3)
	go func() { errc <- fmt.Errorf("serve %s: %w", ln.Addr(), s.srv.Serve(ln)) }()
	if s.metricsSrv != nil {
		go func() { errc <- fmt.Errorf("serve metrics %s: %w", mln.Addr(), s.metricsSrv.Serve(mln)) }()
	}
	return s.serve(ctx, errc)
}

// setAddr records the address of ln, and logs that the server serves ln
// and mln (nil: none).
func (s *Server) setAddr(ln, mln net.Listener) {
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	s.opt.Log.Info("serving", "addr", ln.Addr().String(), "max_conns", s.opt.MaxConns)
	if mln != nil {
		s.opt.Log.Info("serving metrics", "addr", mln.Addr().String())
	}
}

// serve is Run once the listeners are served, their errors sent to errc,
// which has room for the recovery's.
func (s *Server) serve(ctx context.Context, errc chan error) error {
	recovered := make(chan struct{})
	rctx, stopRecover := context.WithCancel(ctx)
	defer stopRecover()
	if s.opt.Recover != nil {
		go func() {
			defer close(recovered)
			err := s.opt.Recover(rctx)
			s.recovering.Store(false)
			if err != nil && rctx.Err() == nil {
				errc <- err
			}
		}()
	} else {
		close(recovered)
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		s.opt.Log.Info("draining: no new chat requests; running deploys may finish, /healthz and /metrics served meanwhile", "drain_timeout", s.opt.DrainTimeout)
	}
	// A recovery still under way is cut short (what it has not recorded,
	// the next start recovers), and ends before the drain, which the
	// store's closing follows.
	stopRecover()
	<-recovered
	s.draining.Store(true)
	inFlight, cancelInFlight := context.WithTimeout(context.WithoutCancel(ctx), s.opt.ShutdownTimeout)
	if !s.gate.close(inFlight) {
		s.opt.Log.Error("shutdown: requests still in flight at the drain", "waited", s.opt.ShutdownTimeout)
	}
	cancelInFlight()
	s.drain()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.ShutdownTimeout)
	defer cancel()
	for _, srv := range []*http.Server{s.srv, s.metricsSrv} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opt.Log.Error("shutdown: requests still in flight were cut", "err", err)
		}
	}
	return serveErr
}

// maxMetricsConns bounds the connections kept for the metrics listener:
// a scraper and a health probe or two need no more.
const maxMetricsConns = 8

// splitConns divides maxConns between the listener and, when there is one,
// the metrics listener, which gets a quarter of them (at least one, at
// most maxMetricsConns). Shared, the connections anyone who reaches the
// listener can open would take every one, and the health probe on the
// internal address would then get no answer: an orchestrator that restarts
// the bot for it would cut its deploys short.
func splitConns(maxConns int, metrics bool) (public, internal int) {
	if !metrics || maxConns < 2 {
		return maxConns, maxConns
	}
	internal = min(max(maxConns/4, 1), maxMetricsConns)
	return maxConns - internal, internal
}

// gate lets requests in until it is closed, and counts those in flight.
// It is safe for concurrent use.
type gate struct {
	mu     sync.Mutex
	closed bool
	active int
	// idle is closed once the gate is closed and no request is in it.
	idle chan struct{}
}

// drainingBody answers a request the closed gate refuses.
const drainingBody = "switchman is stopping: no new requests here; try again on another replica or after the restart\n"

// StoppingHandler is a handler that answers by itself the requests that
// reach its route once the server is stopping: Stopping, which must run
// nothing, takes them instead of the 503 other routes answer. Discord's
// interactions endpoint is one: Discord sends an interaction once, and
// its sender is to be told that nothing ran, not shown a failure.
type StoppingHandler interface {
	http.Handler
	Stopping() http.Handler
}

// wrap answers 503, with Connection: close, once the gate is closed; a
// StoppingHandler's Stopping answers instead.
func (g *gate) wrap(h http.Handler) http.Handler {
	var stopping http.Handler
	if sh, ok := h.(StoppingHandler); ok {
		stopping = sh.Stopping()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.enter() {
			if stopping != nil {
				w.Header().Set("Connection", "close")
				stopping.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "30")
			http.Error(w, drainingBody, http.StatusServiceUnavailable)
			return
		}
		defer g.leave()
		h.ServeHTTP(w, r)
	})
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.active++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	if g.closed && g.active == 0 {
		close(g.idle)
	}
}

// close refuses every later request and waits until those in flight have
// ended or ctx is done; it reports whether they ended. Call it once.
func (g *gate) close(ctx context.Context) bool {
	g.mu.Lock()
	g.closed = true
	if g.active == 0 {
		close(g.idle)
	}
	g.mu.Unlock()
	select {
	case <-g.idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// drain runs Drain, but not for longer than DrainTimeout.
func (s *Server) drain() {
	if s.opt.Drain == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.opt.Drain()
	}()
	t := time.NewTimer(s.opt.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		s.opt.Log.Info("drained: no deploy is running")
	case <-t.C:
		s.opt.Log.Error("deploys still running at shutdown; they will show as interrupted at the next start", "waited", s.opt.DrainTimeout)
	}
}
