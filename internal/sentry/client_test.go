package sentry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
)

const testToken = "sntrys_test-token-0123456789"

// seen is one request the fake Sentry received.
type seen struct {
	Method string
	Path   string // escaped, as sent
	Query  url.Values
	Auth   string
	CType  string
	Body   string
}

// fakeSentry is an httptest server on 127.0.0.1 speaking the parts of
// Sentry's API the client uses. Handlers are looked up by "METHOD path".
type fakeSentry struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []seen
	routes   map[string]http.HandlerFunc
}

func newFakeSentry(t *testing.T) *fakeSentry {
	t.Helper()
	f := &fakeSentry{t: t, routes: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSentry) handle(method, path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" "+path] = h
}

func (f *fakeSentry) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := seen{
		Method: r.Method,
		Path:   r.URL.EscapedPath(),
		Query:  r.URL.Query(),
		Auth:   r.Header.Get("Authorization"),
		CType:  r.Header.Get("Content-Type"),
		Body:   string(body),
	}
	f.mu.Lock()
	f.requests = append(f.requests, s)
	h := f.routes[r.Method+" "+s.Path]
	f.mu.Unlock()
	if h == nil {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"detail":"The requested resource does not exist"}`)
		return
	}
	h(w, r)
}

func (f *fakeSentry) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

// sequence answers successive requests with the given handlers; the last
// one repeats.
func sequence(hs ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hs[min(n, len(hs)-1)]
		n++
		mu.Unlock()
		h(w, r)
	}
}

func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// hang answers only after the client gave up.
func hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

// sleeps records the waits of the client's backoff without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newTestClient(t *testing.T, f *fakeSentry, s *sleeps, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{
		BaseURL:  f.srv.URL,
		Token:    testToken,
		Timeout:  2 * time.Second,
		Attempts: 4,
		Sleep:    s.sleep,
	}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func checkRequest(t *testing.T, got seen, method, path, body string) {
	t.Helper()
	if got.Method != method || got.Path != path {
		t.Errorf("request: got %s %s, want %s %s", got.Method, got.Path, method, path)
	}
	if got.Auth != "Bearer "+testToken {
		t.Errorf("Authorization: got %q, want %q", got.Auth, "Bearer "+testToken)
	}
	if got.Body != body {
		t.Errorf("body:\n got %s\nwant %s", got.Body, body)
	}
	if body != "" && got.CType != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", got.CType)
	}
}

// releaseAnswer is the documented response of "Create a New Release for an
// Organization".
const releaseAnswer = `{"id":2,"authors":[],"commitCount":0,"data":{},"dateCreated":"2026-03-04T10:00:00.000000Z","dateReleased":null,"deployCount":0,"firstEvent":null,"lastCommit":null,"lastDeploy":null,"lastEvent":null,"newGroups":0,"owner":null,"projects":[{"name":"Shop Web","slug":"shop-web"},{"name":"Shop API","slug":"shop-api"}],"ref":null,"shortVersion":"shop@1.2.3","url":null,"version":"shop@1.2.3"}`

func TestCreateRelease(t *testing.T) {
	const path = "/api/0/organizations/acme/releases/"
	const body = `{"version":"shop@1.2.3","projects":["shop-web","shop-api"]}`
	tests := []struct {
		name     string
		answers  []http.HandlerFunc
		wantReqs int
		wantCode errs.Code // "" for success
	}{
		{"created", []http.HandlerFunc{reply(201, releaseAnswer)}, 1, ""},
		{"already exists", []http.HandlerFunc{reply(208, releaseAnswer)}, 1, ""},
		{"conflict is posted again", []http.HandlerFunc{reply(409, `{"detail":"Could not create the release it conflicts with existing data"}`), reply(208, releaseAnswer)}, 2, ""},
		{"conflict twice still counts", []http.HandlerFunc{reply(409, `{"detail":"conflict"}`)}, 2, ""},
		{"invalid", []http.HandlerFunc{reply(400, `{"version":["Release with name contains invalid characters"]}`)}, 1, errs.Invalid},
		{"bad token", []http.HandlerFunc{reply(401, `{"detail":"Invalid token"}`)}, 1, errs.Forbidden},
		{"missing scope", []http.HandlerFunc{reply(403, `{"detail":"You do not have permission to perform this action."}`)}, 1, errs.Forbidden},
		{"unknown org", []http.HandlerFunc{reply(404, `{"detail":"The requested resource does not exist"}`)}, 1, errs.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("POST", path, sequence(tt.answers...))
			var s sleeps
			c := newTestClient(t, f, &s)
			err := c.CreateRelease(context.Background(), "acme", "shop@1.2.3", []string{"shop-web", "shop-api"})
			if tt.wantCode == "" && err != nil {
				t.Fatalf("CreateRelease: got %v, want nil", err)
			}
			if tt.wantCode != "" {
				if err == nil {
					t.Fatalf("CreateRelease: got nil, want a %s error", tt.wantCode)
				}
				if got := errs.CodeOf(err); got != tt.wantCode {
					t.Errorf("code: got %s, want %s (%v)", got, tt.wantCode, err)
				}
				var se *Error
				if !errors.As(err, &se) || se.Status == 0 {
					t.Errorf("errors.As(*Error): got %#v, want a status", se)
				}
			}
			reqs := f.seen()
			if len(reqs) != tt.wantReqs {
				t.Fatalf("requests: got %d, want %d", len(reqs), tt.wantReqs)
			}
			for _, r := range reqs {
				checkRequest(t, r, "POST", path, body)
			}
			if got := s.got(); len(got) != 0 {
				t.Errorf("backoff: got %v, want none", got)
			}
		})
	}
}

func TestCreateReleaseNeedsProjects(t *testing.T) {
	f := newFakeSentry(t)
	c := newTestClient(t, f, &sleeps{})
	err := c.CreateRelease(context.Background(), "acme", "shop@1", nil)
	if errs.CodeOf(err) != errs.Invalid {
		t.Errorf("got %v, want an invalid error", err)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("requests: got %d, want 0", n)
	}
}

func TestCreateDeploy(t *testing.T) {
	started := time.Date(2026, 3, 4, 11, 0, 0, 0, time.FixedZone("CET", 3600))
	finished := time.Date(2026, 3, 4, 10, 3, 30, 0, time.UTC)
	tests := []struct {
		name              string
		version           string
		started, finished time.Time
		deployName        string
		wantPath          string
		wantBody          string
	}{
		{
			name: "full", version: "shop@1.2.3", started: started, finished: finished, deployName: "d-42",
			wantPath: "/api/0/organizations/acme/releases/shop@1.2.3/deploys/",
			wantBody: `{"environment":"production","dateStarted":"2026-03-04T10:00:00Z","dateFinished":"2026-03-04T10:03:30Z","name":"d-42"}`,
		},
		{
			name: "version escaped", version: "shop 1.2+rc/1?x", started: started, finished: finished, deployName: "d-43",
			wantPath: "/api/0/organizations/acme/releases/shop%201.2+rc%2F1%3Fx/deploys/",
			wantBody: `{"environment":"production","dateStarted":"2026-03-04T10:00:00Z","dateFinished":"2026-03-04T10:03:30Z","name":"d-43"}`,
		},
		{
			name: "zero times and no name left out", version: "shop@1.2.3",
			wantPath: "/api/0/organizations/acme/releases/shop@1.2.3/deploys/",
			wantBody: `{"environment":"production"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("POST", tt.wantPath, reply(201, `{"environment":"production","name":"d-42","url":null,"dateStarted":"2026-03-04T10:00:00Z","dateFinished":"2026-03-04T10:03:30Z","id":"1234567"}`))
			c := newTestClient(t, f, &sleeps{})
			if err := c.CreateDeploy(context.Background(), "acme", tt.version, "production", tt.started, tt.finished, tt.deployName); err != nil {
				t.Fatalf("CreateDeploy: %v", err)
			}
			reqs := f.seen()
			if len(reqs) != 1 {
				t.Fatalf("requests: got %d, want 1", len(reqs))
			}
			checkRequest(t, reqs[0], "POST", tt.wantPath, tt.wantBody)
		})
	}
}

func TestSelfHostedBaseURL(t *testing.T) {
	f := newFakeSentry(t)
	f.handle("POST", "/sentry/api/0/organizations/acme/releases/shop@1/deploys/", reply(208, `{}`))
	c := newTestClient(t, f, &sleeps{}, func(o *Options) { o.BaseURL = f.srv.URL + "/sentry/" })
	if err := c.CreateDeploy(context.Background(), "acme", "shop@1", "staging", time.Time{}, time.Time{}, ""); err != nil {
		t.Fatalf("CreateDeploy: %v", err)
	}
}

const projectAnswer = `{"id":"42","slug":"shop-web","name":"Shop Web","platform":"python","dateCreated":"2018-11-06T21:19:58.536Z","isBookmarked":false,"isMember":true,"hasAccess":true,"status":"active"}`

func TestErrorCounts(t *testing.T) {
	f := newFakeSentry(t)
	f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
	// The documented shape of events-stats: [time, [{"count": n}]] points,
	// zero-filled, aligned to the interval.
	f.handle("GET", "/api/0/organizations/acme/events-stats/", reply(200,
		`{"data":[[1772618520,[{"count":2}]],[1772618460,[{"count":0}]],[1772618580,[{"count":7.0}]]],"start":1772618460,"end":1772618640,"isMetricsData":false}`))
	c := newTestClient(t, f, &sleeps{})
	start := time.Date(2026, 3, 4, 10, 1, 0, 0, time.UTC)
	end := time.Date(2026, 3, 4, 10, 4, 0, 0, time.UTC)
	for range 2 { // the project id is looked up once
		got, err := c.ErrorCounts(context.Background(), "acme", "shop-web", "production", start, end, time.Minute)
		if err != nil {
			t.Fatalf("ErrorCounts: %v", err)
		}
		want := []Bucket{
			{Start: time.Unix(1772618460, 0).UTC(), Count: 0},
			{Start: time.Unix(1772618520, 0).UTC(), Count: 2},
			{Start: time.Unix(1772618580, 0).UTC(), Count: 7},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("buckets: got %v, want %v", got, want)
		}
	}
	reqs := f.seen()
	if len(reqs) != 3 {
		t.Fatalf("requests: got %d, want 3 (one lookup, two counts)", len(reqs))
	}
	checkRequest(t, reqs[0], "GET", "/api/0/projects/acme/shop-web/", "")
	checkRequest(t, reqs[1], "GET", "/api/0/organizations/acme/events-stats/", "")
	wantQuery := url.Values{
		"project":     {"42"},
		"environment": {"production"},
		"start":       {"2026-03-04T10:01:00"},
		"end":         {"2026-03-04T10:04:00"},
		"interval":    {"1m"},
		"yAxis":       {"count()"},
		"query":       {"!event.type:transaction"},
	}
	if !reflect.DeepEqual(reqs[1].Query, wantQuery) {
		t.Errorf("query:\n got %v\nwant %v", reqs[1].Query, wantQuery)
	}
}

func TestErrorCountsBadShape(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not json", `<html>`},
		{"point not a pair", `{"data":[[1772618520]]}`},
		{"values not a list", `{"data":[[1772618520,{"count":1}]]}`},
		{"count renamed", `{"data":[[1772618520,[{"events":3}]]]}`},
		{"no values", `{"data":[[1772618520,[]]]}`},
		{"negative count", `{"data":[[1772618520,[{"count":-1}]]]}`},
		{"top events shape", `{"data":{"a":1}}`},
		{"one time twice", `{"data":[[1772618520,[{"count":40}]],[1772618580,[{"count":3}]],[1772618520,[{"count":40}]]]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
			f.handle("GET", "/api/0/organizations/acme/events-stats/", reply(200, tt.body))
			c := newTestClient(t, f, &sleeps{})
			_, err := c.ErrorCounts(context.Background(), "acme", "shop-web", "", time.Unix(0, 0), time.Unix(600, 0), time.Minute)
			if err == nil || errs.CodeOf(err) != errs.Internal {
				t.Errorf("got %v, want an internal (unreadable answer) error", err)
			}
		})
	}
}

// TestNewIssues: the issues first seen in the release, of the watched
// environment only: a release ({app}@{build}) is one for every env it goes
// to, and the issues staging met in it are not production's.
func TestNewIssues(t *testing.T) {
	tests := []struct {
		name, env string
		wantEnv   []string // the environment query parameter
	}{
		{"one environment", "production", []string{"production"}},
		{"every environment", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
			// The documented issue objects: ids and counts are strings.
			f.handle("GET", "/api/0/organizations/acme/issues/", reply(200, `[
		{"annotations":[],"assignedTo":null,"count":"150","culprit":"shop.views in checkout","firstSeen":"2026-03-04T10:04:00Z","hasSeen":false,"id":"1001","isBookmarked":false,"isPublic":false,"isSubscribed":true,"lastSeen":"2026-03-04T10:09:00Z","level":"error","logger":null,"metadata":{"title":"KeyError: 'cart'"},"numComments":0,"permalink":"https://sentry.io/organizations/acme/issues/1001/","project":{"id":"42","name":"Shop Web","slug":"shop-web"},"shareId":null,"shortId":"SHOP-WEB-1A","status":"unresolved","statusDetails":{},"title":"KeyError: 'cart'","type":"error","userCount":12},
		{"count":"3","id":"1002","permalink":"https://sentry.io/organizations/acme/issues/1002/","shortId":"SHOP-WEB-1B","title":"TimeoutError"},
		{"count":"1","id":"1003","permalink":"https://sentry.io/organizations/acme/issues/1003/","shortId":"SHOP-WEB-1C","title":"one too many"}
	]`))
			c := newTestClient(t, f, &sleeps{})
			got, err := c.NewIssues(context.Background(), "acme", "shop-web", tt.env, "shop@1.2.3", 2)
			if err != nil {
				t.Fatalf("NewIssues: %v", err)
			}
			want := []Issue{
				{ID: "1001", ShortID: "SHOP-WEB-1A", Title: "KeyError: 'cart'", Permalink: "https://sentry.io/organizations/acme/issues/1001/", Count: 150},
				{ID: "1002", ShortID: "SHOP-WEB-1B", Title: "TimeoutError", Permalink: "https://sentry.io/organizations/acme/issues/1002/", Count: 3},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("issues:\n got %+v\nwant %+v", got, want)
			}
			reqs := f.seen()
			if len(reqs) != 2 {
				t.Fatalf("requests: got %d, want 2", len(reqs))
			}
			checkRequest(t, reqs[1], "GET", "/api/0/organizations/acme/issues/", "")
			wantQuery := url.Values{
				"project": {"42"},
				"query":   {"firstRelease:shop@1.2.3"},
				"sort":    {"freq"},
				"limit":   {"2"},
			}
			if tt.wantEnv != nil {
				wantQuery["environment"] = tt.wantEnv
			}
			if !reflect.DeepEqual(reqs[1].Query, wantQuery) {
				t.Errorf("query:\n got %v\nwant %v", reqs[1].Query, wantQuery)
			}
		})
	}
}

func TestSearchValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"shop@1.2.3", "shop@1.2.3"},
		{"shop 1.2", `"shop 1.2"`},
		{`say "hi"`, `"say \"hi\""`},
		{"a,b", `"a,b"`},
	}
	for _, tt := range tests {
		if got := searchValue(tt.in); got != tt.want {
			t.Errorf("searchValue(%q): got %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRetries(t *testing.T) {
	const path = "/api/0/organizations/acme/releases/shop@1/deploys/"
	ok := reply(201, `{"id":"1","environment":"production"}`)
	tests := []struct {
		name      string
		answers   []http.HandlerFunc
		wantReqs  int
		wantSleep []time.Duration
		wantCode  errs.Code
		wantState int
	}{
		{
			name:      "500s then success",
			answers:   []http.HandlerFunc{reply(500, `{"detail":"Internal Error"}`), reply(502, `<html>bad gateway</html>`), ok},
			wantReqs:  3,
			wantSleep: []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:      "429 honours Retry-After seconds",
			answers:   []http.HandlerFunc{reply(429, `{"detail":"You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds"}`, "Retry-After", "7"), ok},
			wantReqs:  2,
			wantSleep: []time.Duration{7 * time.Second},
		},
		{
			name:      "429 without Retry-After uses the backoff",
			answers:   []http.HandlerFunc{reply(429, `{}`), ok},
			wantReqs:  2,
			wantSleep: []time.Duration{500 * time.Millisecond},
		},
		{
			// Sentry sends the reset of its fixed window with every
			// answer, by its own clock: a reset already past (a bot's
			// clock ahead, a 429 of the concurrent limit) spent every
			// attempt within milliseconds.
			name: "429 with a rate-limit reset already past uses the backoff",
			answers: []http.HandlerFunc{
				reply(429, `{"detail":"You are attempting to go above the allowed concurrency for this endpoint."}`, "X-Sentry-Rate-Limit-Reset", "1000000000", "X-Sentry-Rate-Limit-ConcurrentRemaining", "0"),
				reply(429, `{"detail":"You are attempting to go above the allowed concurrency for this endpoint."}`, "Retry-After", "Fri, 09 Sep 2001 01:46:40 GMT"),
				ok,
			},
			wantReqs:  3,
			wantSleep: []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:      "429 asking too long a wait gives up",
			answers:   []http.HandlerFunc{reply(429, `{"detail":"slow down"}`, "Retry-After", "3600")},
			wantReqs:  1,
			wantCode:  errs.Unavailable,
			wantState: 429,
		},
		{
			name:      "500s exhaust the attempts",
			answers:   []http.HandlerFunc{reply(503, `{"detail":"down"}`)},
			wantReqs:  4,
			wantSleep: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second},
			wantCode:  errs.Unavailable,
			wantState: 503,
		},
		{
			name:      "4xx is not retried",
			answers:   []http.HandlerFunc{reply(400, `{"environment":["This field is required."]}`)},
			wantReqs:  1,
			wantCode:  errs.Invalid,
			wantState: 400,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("POST", path, sequence(tt.answers...))
			var s sleeps
			c := newTestClient(t, f, &s)
			err := c.CreateDeploy(context.Background(), "acme", "shop@1", "production", time.Time{}, time.Time{}, "")
			if tt.wantCode == "" && err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if tt.wantCode != "" {
				if got := errs.CodeOf(err); got != tt.wantCode {
					t.Fatalf("code: got %s, want %s (%v)", got, tt.wantCode, err)
				}
				var se *Error
				if !errors.As(err, &se) {
					t.Fatalf("errors.As(*Error): false for %v", err)
				}
				if se.Status != tt.wantState || se.Attempts != tt.wantReqs {
					t.Errorf("error: got status %d after %d attempts, want %d after %d", se.Status, se.Attempts, tt.wantState, tt.wantReqs)
				}
			}
			if n := len(f.seen()); n != tt.wantReqs {
				t.Errorf("requests: got %d, want %d", n, tt.wantReqs)
			}
			if got := s.got(); !reflect.DeepEqual(got, tt.wantSleep) {
				t.Errorf("waits: got %v, want %v", got, tt.wantSleep)
			}
		})
	}
}

func TestRetryAfterHeaders(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	c, err := New(Options{Token: "t", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"fractional seconds", http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{"http date", http.Header{"Retry-After": {now.Add(20 * time.Second).Format(http.TimeFormat)}}, 20 * time.Second},
		{"sentry reset", http.Header{"X-Sentry-Rate-Limit-Reset": {"1772618412"}}, time.Unix(1772618412, 0).Sub(now)},
		{"sentry reset now", http.Header{"X-Sentry-Rate-Limit-Reset": {"1772618400"}}, 0},
		{"sentry reset past", http.Header{"X-Sentry-Rate-Limit-Reset": {"1772618398"}}, 0},
		{"http date past", http.Header{"Retry-After": {now.Add(-3 * time.Second).Format(http.TimeFormat)}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"none", http.Header{}, 0},
		{"seconds past a duration", http.Header{"Retry-After": {"1e30"}}, 24 * time.Hour},
		{"integer seconds past a duration", http.Header{"Retry-After": {"99999999999"}}, 24 * time.Hour},
		{"seconds past a float", http.Header{"Retry-After": {"1e400"}}, 24 * time.Hour},
		{"http date centuries ahead", http.Header{"Retry-After": {"Fri, 31 Dec 9999 23:59:59 GMT"}}, 24 * time.Hour},
		{"sentry reset past an int64", http.Header{"X-Sentry-Rate-Limit-Reset": {"99999999999999999999"}}, 24 * time.Hour},
		{"sentry reset at the int64 bound", http.Header{"X-Sentry-Rate-Limit-Reset": {"9223372036854775807"}}, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.retryAfter(tt.header); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	const path = "/api/0/projects/acme/shop-web/"
	t.Run("timeout then success", func(t *testing.T) {
		f := newFakeSentry(t)
		f.handle("GET", path, sequence(hang, reply(200, projectAnswer)))
		var s sleeps
		c := newTestClient(t, f, &s, func(o *Options) { o.Timeout = 100 * time.Millisecond })
		id, err := c.projectID(context.Background(), "acme", "shop-web")
		if err != nil || id != "42" {
			t.Fatalf("projectID: got %q, %v; want 42, nil", id, err)
		}
		if got := s.got(); len(got) != 1 {
			t.Errorf("waits: got %v, want one backoff", got)
		}
	})
	t.Run("every attempt times out", func(t *testing.T) {
		f := newFakeSentry(t)
		f.handle("GET", path, hang)
		c := newTestClient(t, f, &sleeps{}, func(o *Options) { o.Timeout = 50 * time.Millisecond; o.Attempts = 2 })
		_, err := c.projectID(context.Background(), "acme", "shop-web")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want a deadline error", err)
		}
		if errs.CodeOf(err) != errs.Unavailable {
			t.Errorf("code: got %s, want unavailable", errs.CodeOf(err))
		}
		if n := len(f.seen()); n != 2 {
			t.Errorf("requests: got %d, want 2", n)
		}
	})
	t.Run("caller deadline before the backoff ends", func(t *testing.T) {
		f := newFakeSentry(t)
		f.handle("GET", path, reply(500, `{}`))
		var s sleeps
		c := newTestClient(t, f, &s, func(o *Options) { o.MinBackoff = time.Hour })
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := c.projectID(ctx, "acme", "shop-web")
		if errs.CodeOf(err) != errs.Unavailable {
			t.Errorf("got %v, want unavailable", err)
		}
		if n := len(f.seen()); n != 1 {
			t.Errorf("requests: got %d, want 1", n)
		}
		if got := s.got(); len(got) != 0 {
			t.Errorf("waits: got %v, want none", got)
		}
	})
	t.Run("cancelled during the backoff", func(t *testing.T) {
		f := newFakeSentry(t)
		f.handle("GET", path, reply(500, `{}`))
		ctx, cancel := context.WithCancel(context.Background())
		c := newTestClient(t, f, &sleeps{}, func(o *Options) {
			o.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }
		})
		_, err := c.projectID(ctx, "acme", "shop-web")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if n := len(f.seen()); n != 1 {
			t.Errorf("requests: got %d, want 1", n)
		}
	})
}

func TestNetworkError(t *testing.T) {
	f := newFakeSentry(t)
	f.srv.Close() // nothing listens any more
	var s sleeps
	c := newTestClient(t, f, &s, func(o *Options) { o.Attempts = 3 })
	err := c.CreateRelease(context.Background(), "acme", "shop@1", []string{"shop-web"})
	if errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
	var se *Error
	if !errors.As(err, &se) || se.Status != 0 || se.Attempts != 3 || se.Err == nil {
		t.Errorf("error: got %#v, want no status, 3 attempts and a cause", se)
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	// Detail keeps maxDetail bytes of an answer: pad puts the cut
	// inside the token.
	pad := strings.Repeat("x", maxDetail-len("bad header Bearer ")-len(testToken)/2)
	tests := []struct {
		name   string
		answer func(auth string) string
	}{
		{"echoed", func(auth string) string { return `{"detail":"bad header ` + auth + `"}` }},
		{"echoed where the detail is cut", func(auth string) string { return `{"detail":"` + pad + `bad header ` + auth + ` refused"}` }},
		{"echoed where the body is cut", func(auth string) string { return pad + `bad header ` + auth + ` refused` }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSentry(t)
			echo := func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				io.WriteString(w, tt.answer(r.Header.Get("Authorization")))
			}
			f.handle("POST", "/api/0/organizations/acme/releases/", echo)
			c := newTestClient(t, f, &sleeps{})
			err := c.CreateRelease(context.Background(), "acme", "shop@1", []string{"shop-web"})
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			if half := testToken[:len(testToken)/2]; strings.Contains(err.Error(), half) {
				t.Errorf("error leaks the token (%q of it): %v", half, err)
			}
			if !strings.Contains(err.Error(), "[redact") {
				t.Errorf("error: got %v, want the echoed token shown as [redacted]", err)
			}
			if msg := errs.Message(err); strings.Contains(msg, testToken[:len(testToken)/2]) || msg == "" {
				t.Errorf("message for people: got %q", msg)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{Token: "t"}, true},
		{"no token", Options{}, false},
		{"blank token", Options{Token: "  "}, false},
		{"not http", Options{Token: "t", BaseURL: "ftp://sentry.example.com"}, false},
		{"no host", Options{Token: "t", BaseURL: "https://"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.o)
			if (err == nil) != tt.ok {
				t.Fatalf("New: got %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && c.base != DefaultBaseURL {
				t.Errorf("base: got %q, want %q", c.base, DefaultBaseURL)
			}
		})
	}
}

func TestFormatInterval(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{time.Minute, "1m"}, {5 * time.Minute, "5m"}, {2 * time.Hour, "2h"}, {90 * time.Second, "90s"},
	}
	for _, tt := range tests {
		if got := formatInterval(tt.in); got != tt.want {
			t.Errorf("formatInterval(%v): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRateLimitSaysHowLong: a 429 whose Retry-After asks a wait past what
// the client waits for ends the call, and its error says how long Sentry
// asks. One past what a time.Duration holds overflowed to a negative
// wait: the call ended without the note (or, past a float64, was tried
// again at once, every attempt spent on the limit).
func TestRateLimitSaysHowLong(t *testing.T) {
	const path = "/api/0/organizations/acme/releases/shop@1/deploys/"
	for _, tt := range []struct {
		retryAfter string
		want       string
	}{
		{"3600", "(rate limited for 1h0m0s)"},
		{"86400", "(rate limited for 24h0m0s or more)"},
		{"1e30", "(rate limited for 24h0m0s or more)"},
		{"99999999999", "(rate limited for 24h0m0s or more)"},
		{"1e400", "(rate limited for 24h0m0s or more)"},
		{"Fri, 31 Dec 9999 23:59:59 GMT", "(rate limited for 24h0m0s or more)"},
	} {
		t.Run(tt.retryAfter, func(t *testing.T) {
			f := newFakeSentry(t)
			f.handle("POST", path, sequence(reply(429, `{"detail":"slow down"}`, "Retry-After", tt.retryAfter)))
			var s sleeps
			c := newTestClient(t, f, &s)
			err := c.CreateDeploy(context.Background(), "acme", "shop@1", "production", time.Time{}, time.Time{}, "")
			if err == nil || !strings.Contains(err.Error(), "slow down "+tt.want) {
				t.Errorf("error: got %v, want it to say %q", err, tt.want)
			}
			if n := len(f.seen()); n != 1 {
				t.Errorf("requests: got %d, want 1", n)
			}
			if got := s.got(); len(got) != 0 {
				t.Errorf("waits: got %v, want none", got)
			}
		})
	}
}
