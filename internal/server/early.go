package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// EarlyOptions configure an Early.
type EarlyOptions struct {
	Listener net.Listener
	// MetricsListener, when set, is the listener the Server will serve
	// /metrics and /healthz on (see Options.MetricsListener).
	MetricsListener net.Listener
	// MaxConns is the Server's (see Options.MaxConns).
	MaxConns int
	Log      *slog.Logger
}

// Early serves a bot's listeners from the moment they are bound, while
// the bot starts: it opens its store and asks Slack and Discord whether
// they take its tokens, up to 15 s each, and until then an orchestrator's
// health probe was left unanswered, to time out as if the bot had hung.
// Until a Server takes the listeners over (Options.Early), /healthz
// answers at once 503 {"status":"starting","store":"unchecked"}: alive,
// not ready for the traffic of the chat platforms. /metrics answers 503
// too, as the registry is not filled yet. Any other request waits for
// the Server and is served by it, as one the kernel held in the
// listener's backlog was; if the bot does not start, Close answers it 503.
// It is safe for concurrent use.
type Early struct {
	// ln and mln are the listeners as served, with the MaxConns bound;
	// mln is nil without a metrics listener.
	ln, mln         net.Listener
	srv, metricsSrv *http.Server
	// errc gets what ended the serving of a listener, and has room for
	// the Server's recovery as well.
	errc chan error
	// public and internal are the handlers the Server hands ln and mln.
	public, internal handoff

	mu      sync.Mutex
	taken   bool
	aborted chan struct{} // closed by Close before a Server took over
	// answered counts the answers given before a Server's Metrics
	// existed, by handler label and code; metrics is the Server's, from
	// the takeover on, which counts them instead.
	answered map[earlyAnswer]float64
	metrics  *Metrics
}

// earlyAnswer is what an answer of Early is counted under.
type earlyAnswer struct{ handler, code string }

// handoff is a handler set once, for requests to wait for.
type handoff struct {
	ready chan struct{} // closed once h is set
	h     http.Handler
}

// startingBody is what an Early's /healthz says.
var startingBody = healthBody{Status: "starting", Store: "unchecked"}

// notStartedBody answers a request that waited for a bot that did not start.
const notStartedBody = "switchman did not start: nothing was run\n"

// metricsStartingBody answers /metrics while the bot starts.
const metricsStartingBody = "switchman is starting: no metrics yet\n"

// ServeEarly serves opt's listeners until a Server takes them over, or
// Close.
func ServeEarly(opt EarlyOptions) *Early {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	e := &Early{ln: opt.Listener, mln: opt.MetricsListener, errc: make(chan error, 3), aborted: make(chan struct{}),
		public: handoff{ready: make(chan struct{})}, internal: handoff{ready: make(chan struct{})}}
	if opt.MaxConns > 0 {
		public, internal := splitConns(opt.MaxConns, e.mln != nil)
		e.ln = newLimitListener(e.ln, make(chan struct{}, public))
		if e.mln != nil {
			e.mln = newLimitListener(e.mln, make(chan struct{}, internal))
		}
	}
	e.srv = newHTTPServer(e.handler(&e.public, e.mln == nil), opt.Log)
	go func() { e.errc <- fmt.Errorf("serve %s: %w", e.ln.Addr(), e.srv.Serve(e.ln)) }()
	if e.mln != nil {
		e.metricsSrv = newHTTPServer(e.handler(&e.internal, true), opt.Log)
		go func() { e.errc <- fmt.Errorf("serve metrics %s: %w", e.mln.Addr(), e.metricsSrv.Serve(e.mln)) }()
	}
	return e
}

// handler answers for to until it is set; metrics: the listener is the
// one /metrics will be served on.
func (e *Early) handler(to *handoff, metrics bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-to.ready:
			to.h.ServeHTTP(w, r)
			return
		default:
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch {
			case r.URL.Path == "/healthz":
				e.count(healthzPattern, http.StatusServiceUnavailable)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusServiceUnavailable)
				json.NewEncoder(w).Encode(startingBody)
				return
			case r.URL.Path == "/metrics" && metrics:
				e.count(metricsPattern, http.StatusServiceUnavailable)
				w.Header().Set("Retry-After", "5")
				http.Error(w, metricsStartingBody, http.StatusServiceUnavailable)
				return
			}
		}
		select {
		case <-to.ready:
			to.h.ServeHTTP(w, r)
		case <-e.aborted:
			w.Header().Set("Connection", "close")
			http.Error(w, notStartedBody, http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
	})
}

// count records an answer given under the route pattern handler: the
// probes and scrapes that found the bot starting belong with the
// Server's, in the same switchman_http_requests_total, rather than
// vanish from it, as a bot slow to start would show nowhere else.
func (e *Early) count(handler string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.taken {
		e.metrics.add(handler, code, 1)
		return
	}
	if e.answered == nil {
		e.answered = map[earlyAnswer]float64{}
	}
	e.answered[earlyAnswer{handler, strconv.Itoa(code)}]++
}

// takeOver hands the listeners to the Server's handlers, and returns them
// (mln nil without a metrics listener), the http.Servers that serve them,
// and the channel of what ends their serving. The answers given so far
// are counted in m (nil: not counted), as are those still being given.
func (e *Early) takeOver(public, internal http.Handler, m *Metrics) (ln, mln net.Listener, srv, metricsSrv *http.Server, errc chan error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.taken = true
	e.metrics = m
	for a, n := range e.answered {
		m.addLabels(a.handler, a.code, n)
	}
	e.answered = nil
	e.public.h = public
	close(e.public.ready)
	e.internal.h = internal
	close(e.internal.ready)
	return e.ln, e.mln, e.srv, e.metricsSrv, e.errc
}

// earlyCloseTimeout bounds Close's wait for the answers in flight, which
// are all quick once it has told the waiting ones that the bot did not
// start.
const earlyCloseTimeout = 2 * time.Second

// Close stops serving and closes the listeners, unless a Server took them
// over (its Run closes them): the bot did not start.
func (e *Early) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.taken {
		return
	}
	select {
	case <-e.aborted:
		return
	default:
	}
	close(e.aborted)
	ctx, cancel := context.WithTimeout(context.Background(), earlyCloseTimeout)
	defer cancel()
	for _, srv := range []*http.Server{e.srv, e.metricsSrv} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
}
