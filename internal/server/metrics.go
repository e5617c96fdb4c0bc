package server

import (
	"net/http"
	"path"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bot's own Prometheus metrics. A nil *Metrics records
// nothing. It is safe for concurrent use.
type Metrics struct {
	commandLatency *prometheus.HistogramVec
	httpRequests   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg:
//
//	switchman_command_latency_seconds{platform}  how long commands take to handle
//	switchman_http_requests_total{handler,code}  HTTP requests by route ("unmatched": none) and status,
//	                                             Early's answers included
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		commandLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchman_command_latency_seconds",
			Help:    "Time to handle a chat command (parse, authorise, act, reply), by platform. A deploy counts until it started, not until it finished.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"platform"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchman_http_requests_total",
			Help: "HTTP requests served, by route (\"unmatched\" for those no route takes) and status code.",
		}, []string{"handler", "code"}),
	}
	reg.MustRegister(m.commandLatency, m.httpRequests)
	return m
}

// RegisterBuildInfo registers with reg switchman_build_info{version,goversion},
// always 1: which version each replica runs, to join on other series or
// to tell a rollout from its metrics.
func RegisterBuildInfo(reg prometheus.Registerer, version string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "switchman_build_info",
		Help:        "Always 1: the bot's version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	g.Set(1)
	reg.MustRegister(g)
}

// ObserveCommand records how long one command took on platform.
func (m *Metrics) ObserveCommand(platform string, d time.Duration) {
	if m == nil {
		return
	}
	m.commandLatency.WithLabelValues(platform).Observe(d.Seconds())
}

// count wraps h so that its requests are counted under the label handler.
func (m *Metrics) count(handler string, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.httpRequests.WithLabelValues(handler, strconv.Itoa(sw.code)).Inc()
	})
}

// add counts n requests of handler answered with code.
func (m *Metrics) add(handler string, code int, n float64) {
	m.addLabels(handler, strconv.Itoa(code), n)
}

func (m *Metrics) addLabels(handler, code string, n float64) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(handler, code).Add(n)
}

// unmatchedHandler is the handler label of requests no route takes.
const unmatchedHandler = "unmatched"

// unmatched wraps mux so that the requests none of its routes takes (404,
// or 405 for a path served for another method) are counted as well, under
// the handler label "unmatched": a Slack app or webhook sending to a path
// the bot does not serve shows in the metrics. So does one whose path mux
// redirects to its clean form (//slack/commands) without calling the
// route, which names it all the same. The path is no label: anyone who
// reaches the listener chooses it.
func (m *Metrics) unmatched(mux *http.ServeMux) http.Handler {
	if m == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" && (r.Method == http.MethodConnect || cleanPath(r.URL.EscapedPath())) {
			mux.ServeHTTP(w, r) // counted by its route
			return
		}
		m.count(unmatchedHandler, mux).ServeHTTP(w, r)
	})
}

// cleanPath reports whether ServeMux takes p, a request's escaped path, as it
// is rather than redirect to its clean form: what path.Clean leaves of it,
// with its trailing slash, if any.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return p == c || c != "/" && p == c+"/"
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
