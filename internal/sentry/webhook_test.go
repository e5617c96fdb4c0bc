package sentry

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/ratelog"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

const (
	goldenSecret = "integration-client-secret"
	goldenBody   = `{"action":"triggered","data":{}}`
	// goldenSig is HMAC-SHA256(goldenSecret, goldenBody) in hex, computed
	// independently of this package (Python's hmac module).
	goldenSig = "a61bd275d2199e31cd6439a837cdec4c54aefd274df25203ae1dd7b15fd7ced1"
)

func TestVerifySignature(t *testing.T) {
	changed := []byte(goldenBody)
	changed[2] = 'b' // {"bction":…
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"valid", goldenSecret, []byte(goldenBody), goldenSig, true},
		{"valid upper-case hex", goldenSecret, []byte(goldenBody), strings.ToUpper(goldenSig), true},
		{"valid with surrounding space", goldenSecret, []byte(goldenBody), " " + goldenSig + "\t", true},
		{"wrong secret", "another-secret", []byte(goldenBody), goldenSig, false},
		{"body changed by one byte", goldenSecret, changed, goldenSig, false},
		{"body with a trailing newline", goldenSecret, []byte(goldenBody + "\n"), goldenSig, false},
		{"missing header", goldenSecret, []byte(goldenBody), "", false},
		{"non-hex", goldenSecret, []byte(goldenBody), "zz" + goldenSig[2:], false},
		{"odd length", goldenSecret, []byte(goldenBody), goldenSig[1:], false},
		{"truncated", goldenSecret, []byte(goldenBody), goldenSig[:32], false},
		{"sha256= prefix is not Sentry's format", goldenSecret, []byte(goldenBody), "sha256=" + goldenSig, false},
		{"empty secret", "", []byte(goldenBody), goldenSig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifySignature(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// fixtureClock is a clock minutes after the time of resource's payload in
// testdata/webhook, taken from Sentry's documentation: the issue and the
// issue alert are of one evening of 2019, the metric alert of 2020.
func fixtureClock(resource string) func() time.Time {
	t := time.Date(2019, 8, 19, 21, 10, 0, 0, time.UTC)
	if resource == ResourceMetricAlert {
		t = time.Date(2020, 9, 13, 12, 30, 0, 0, time.UTC)
	}
	return func() time.Time { return t }
}

func readPayload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhook", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWebhookHandler(t *testing.T) {
	const secret = "s3cr3t"
	event := readPayload(t, "event_alert.json")
	metric := readPayload(t, "metric_alert.json")
	issue := readPayload(t, "issue.json")
	tests := []struct {
		name       string
		method     string
		resource   string
		body       []byte
		sig        string // "" means none; "sign" means a valid one
		wantStatus int
		wantAlert  *Alert
	}{
		{
			name: "event alert", resource: "event_alert", body: event, sig: "sign", wantStatus: 204,
			wantAlert: &Alert{
				Resource: "event_alert", Action: "triggered", Project: "front-end", Environment: "production",
				Title: "ReferenceError: heck is not defined", Level: "error", Rule: "Very Important Alert Rule!",
				URL: "https://sentry.io/organizations/test-org/issues/1117540176/events/e4874d664c3540c1a32eab185f12c5ab/",
			},
		},
		{
			name: "metric alert", resource: "metric_alert", body: metric, sig: "sign", wantStatus: 204,
			wantAlert: &Alert{
				Resource: "metric_alert", Action: "critical", Project: "bar", Environment: "production",
				Title: "Critical: Too many errors", Level: "critical", Rule: "Too many errors",
				URL: "https://sentry.io/organizations/baz/alerts/1/",
			},
		},
		{
			name: "issue", resource: "issue", body: issue, sig: "sign", wantStatus: 204,
			wantAlert: &Alert{
				Resource: "issue", Action: "created", Project: "front-end",
				Title: "ReferenceError: blooopy is not defined", Level: "error",
				URL: "https://sentry.io/organizations/test-org/issues/1170820242/",
			},
		},
		{name: "other resource ignored", resource: "installation", body: []byte(`{"action":"created","data":{}}`), sig: "sign", wantStatus: 204},
		{name: "missing signature", resource: "issue", body: issue, wantStatus: 401},
		{name: "signature of another body", resource: "issue", body: issue, sig: sign(secret, event), wantStatus: 401},
		{name: "signature with another secret", resource: "issue", body: issue, sig: sign("other", issue), wantStatus: 401},
		{name: "malformed json", resource: "issue", body: []byte(`{"action":`), sig: "sign", wantStatus: 400},
		{name: "no data", resource: "issue", body: []byte(`{"action":"created"}`), sig: "sign", wantStatus: 400},
		{name: "too large", resource: "issue", body: bytes.Repeat([]byte(" "), MaxWebhookBody+1), sig: "sign", wantStatus: 413},
		{name: "GET", method: "GET", resource: "issue", wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Alert
			h := &WebhookHandler{Secret: secret, OnAlert: func(a Alert) { got = append(got, a) }, Now: fixtureClock(tt.resource)}
			method := tt.method
			if method == "" {
				method = "POST"
			}
			req := httptest.NewRequest(method, "/sentry/webhook", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(ResourceHeader, tt.resource)
			switch tt.sig {
			case "":
			case "sign":
				req.Header.Set(SignatureHeader, sign(secret, tt.body))
			default:
				req.Header.Set(SignatureHeader, tt.sig)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			switch {
			case tt.wantAlert == nil && len(got) != 0:
				t.Errorf("alerts: got %+v, want none", got)
			case tt.wantAlert != nil && len(got) != 1:
				t.Errorf("alerts: got %d, want 1", len(got))
			case tt.wantAlert != nil && got[0] != *tt.wantAlert:
				t.Errorf("alert:\n got %+v\nwant %+v", got[0], *tt.wantAlert)
			}
		})
	}
}

// TestWebhookDeliveredOnce: a signed body sent again (a replay, or
// Sentry's own retry) is dropped; a store that cannot say refuses it.
func TestWebhookDeliveredOnce(t *testing.T) {
	seen := map[string]bool{}
	var storeErr error
	var got []Alert
	h := &WebhookHandler{Secret: goldenSecret, OnAlert: func(a Alert) { got = append(got, a) }, Now: fixtureClock(ResourceIssue),
		First: func(_ context.Context, key, _ string) (bool, error) {
			if storeErr != nil {
				return false, storeErr
			}
			first := !seen[key]
			seen[key] = true
			return first, nil
		}}
	post := func(resource string, body []byte) int {
		req := httptest.NewRequest("POST", "/sentry/webhook", bytes.NewReader(body))
		req.Header.Set(ResourceHeader, resource)
		req.Header.Set(SignatureHeader, sign(goldenSecret, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	issue, event := readPayload(t, "issue.json"), readPayload(t, "event_alert.json")
	for i, tc := range []struct {
		resource string
		body     []byte
		storeErr error
		status   int
		alerts   int
	}{
		{"issue", issue, nil, 204, 1},
		{"issue", issue, nil, 204, 1}, // again: dropped
		{"event_alert", event, errors.New("connection refused"), 503, 1},
		{"event_alert", event, nil, 204, 2}, // Sentry's retry, once the store is back
		{"event_alert", event, nil, 204, 2},
	} {
		storeErr = tc.storeErr
		if status := post(tc.resource, tc.body); status != tc.status || len(got) != tc.alerts {
			t.Errorf("delivery %d (%s): status %d, %d alerts so far; want %d, %d", i, tc.resource, status, len(got), tc.status, tc.alerts)
		}
	}
}

func TestWebhookServer(t *testing.T) {
	// The handler behind a real listener: Sentry posts, the bot answers.
	alerts := make(chan Alert, 1)
	srv := httptest.NewServer(&WebhookHandler{Secret: goldenSecret, OnAlert: func(a Alert) { alerts <- a }, Now: fixtureClock(ResourceIssue)})
	t.Cleanup(srv.Close)
	body := readPayload(t, "issue.json")
	req, err := http.NewRequest("POST", srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(ResourceHeader, "issue")
	req.Header.Set(SignatureHeader, sign(goldenSecret, body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status: got %d, want 204", resp.StatusCode)
	}
	if a := <-alerts; a.Project != "front-end" {
		t.Errorf("project: got %q, want front-end", a.Project)
	}
}

func TestParseAlertTagObjects(t *testing.T) {
	body := []byte(`{"action":"triggered","data":{"event":{"title":"x","tags":[{"key":"level","value":"error"},{"key":"environment","value":"staging"}]}}}`)
	a, err := ParseAlert(ResourceEventAlert, body)
	if err != nil {
		t.Fatal(err)
	}
	if a.Environment != "staging" || a.Project != "" {
		t.Errorf("got environment %q project %q, want staging and none", a.Environment, a.Project)
	}
}

// readCounter is a request body that counts the bytes read from it.
type readCounter struct {
	r *bytes.Reader
	n int
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestWebhookOff: without a secret (sentry.webhook_secret empty) the
// webhook is off: a delivery, whatever its signature, is answered 404
// without its body read, the store asked or an alert raised.
func TestWebhookOff(t *testing.T) {
	body := readPayload(t, "issue.json")
	for _, sig := range []string{"", sign("", body), sign(goldenSecret, body)} {
		var asked, alerted int
		var logged bytes.Buffer
		h := &WebhookHandler{
			OnAlert: func(Alert) { alerted++ },
			First:   func(context.Context, string, string) (bool, error) { asked++; return true, nil },
			Log:     slog.New(slog.NewTextHandler(&logged, nil)),
		}
		rc := &readCounter{r: bytes.NewReader(body)}
		req := httptest.NewRequest("POST", "/sentry/webhook", rc)
		req.Header.Set(ResourceHeader, "issue")
		if sig != "" {
			req.Header.Set(SignatureHeader, sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "sentry webhook is off") {
			t.Errorf("signature %q: got %d %q, want 404 saying the webhook is off", sig, rec.Code, rec.Body)
		}
		if rc.n != 0 || asked != 0 || alerted != 0 {
			t.Errorf("signature %q: read %d bytes, asked the store %d times, raised %d alerts; want none", sig, rc.n, asked, alerted)
		}
		if logged.Len() != 0 {
			t.Errorf("signature %q: logged %q, want nothing (the start-up says the webhook is off)", sig, logged.String())
		}
	}
}

// TestWebhookFirstDeadline: a duplicate check the store does not answer
// (a hung store) is given up after FirstTimeout, well inside Sentry's one
// second, not held until the server's write timeout: the delivery is
// refused with 503 for Sentry to send again, and the refusal logged.
func TestWebhookFirstDeadline(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"default", 0, DefaultFirstTimeout},
		{"set", 50 * time.Millisecond, 50 * time.Millisecond},
	}
	body := readPayload(t, "issue.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged syncbuf.Buffer
			var alerted atomic.Int32
			var given atomic.Int64 // the deadline First was given, from its call
			h := &WebhookHandler{Secret: goldenSecret, FirstTimeout: tt.timeout, Now: fixtureClock(ResourceIssue),
				Log:     slog.New(slog.NewTextHandler(&logged, nil)),
				OnAlert: func(Alert) { alerted.Add(1) },
				First: func(ctx context.Context, _, _ string) (bool, error) {
					if d, ok := ctx.Deadline(); ok {
						given.Store(int64(time.Until(d)))
					}
					<-ctx.Done() // a store that never answers
					return false, ctx.Err()
				}}
			req := httptest.NewRequest("POST", "/sentry/webhook", bytes.NewReader(body))
			req.Header.Set(ResourceHeader, "issue")
			req.Header.Set(SignatureHeader, sign(goldenSecret, body))
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				defer close(done)
				h.ServeHTTP(rec, req)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the webhook still waits for the store after 30 s; want it to give up within its deadline")
			}
			if g := time.Duration(given.Load()); g <= 0 || g > tt.want {
				t.Errorf("deadline given to First: got %v, want at most %v", g, tt.want)
			}
			if rec.Code != http.StatusServiceUnavailable || alerted.Load() != 0 {
				t.Errorf("got %d and %d alerts, want 503 and none", rec.Code, alerted.Load())
			}
			if l := logged.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "cannot tell whether it was delivered before") || !strings.Contains(l, "deadline exceeded") {
				t.Errorf("log: got %q, want an error saying the duplicate check ran out of time", l)
			}
		})
	}
}

// TestWebhookRefusalsLogLimited: deliveries with a bad signature, which
// anyone can send, are each answered 401, but logged at most once per
// RefusalLog.Every: the first at once, the next with the count of those
// held back.
func TestWebhookRefusalsLogLimited(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var logged syncbuf.Buffer
	h := &WebhookHandler{Secret: goldenSecret, Log: slog.New(slog.NewTextHandler(&logged, nil)),
		RefusalLog: &ratelog.Limiter{Every: time.Minute, Now: clock}}
	post := func() int {
		req := httptest.NewRequest("POST", "/sentry/webhook", strings.NewReader(goldenBody))
		req.Header.Set(ResourceHeader, "issue")
		req.Header.Set(SignatureHeader, strings.Repeat("0", 64))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 50 {
		if code := post(); code != http.StatusUnauthorized {
			t.Fatalf("delivery %d: got %d, want 401", i, code)
		}
	}
	if n := strings.Count(logged.String(), "bad or missing signature"); n != 1 {
		t.Errorf("after 50 refusals in a minute: got %d log lines, want 1:\n%s", n, logged.String())
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	post()
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "suppressed=49") {
		t.Errorf("a minute later: got %q, want a second line saying 49 were suppressed", lines)
	}
}

// TestWebhookHandlerOwnRefusalLog: a handler without a RefusalLog limits
// its refusal lines all the same.
func TestWebhookHandlerOwnRefusalLog(t *testing.T) {
	var logged syncbuf.Buffer
	h := &WebhookHandler{Secret: goldenSecret, Log: slog.New(slog.NewTextHandler(&logged, nil))}
	for range 20 {
		req := httptest.NewRequest("POST", "/sentry/webhook", strings.NewReader(goldenBody))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("got %d, want 401", rec.Code)
		}
	}
	if n := strings.Count(logged.String(), "bad or missing signature"); n < 1 || n > 2 {
		t.Errorf("20 refusals at once: got %d log lines, want 1 (2 if the test took over %v)", n, ratelog.DefaultEvery)
	}
}

// TestWebhookOneAlertPerBody: Sentry signs the body, not the
// Sentry-Hook-Resource header, so whoever captured a delivery can send its
// body again under another resource. Whatever headers come with it, one
// signed body raises at most one alert: a body is read only as the
// resource its shape shows (another handled resource in the header is
// refused with 400, before the store is asked), and it is remembered by
// the body alone.
func TestWebhookOneAlertPerBody(t *testing.T) {
	headers := []string{ResourceEventAlert, ResourceMetricAlert, ResourceIssue, "installation", ""}
	for _, resource := range []string{ResourceEventAlert, ResourceMetricAlert, ResourceIssue} {
		t.Run(resource, func(t *testing.T) {
			body := readPayload(t, resource+".json")
			seen := map[string]bool{}
			var asked int
			var alerts []Alert
			h := &WebhookHandler{Secret: goldenSecret, OnAlert: func(a Alert) { alerts = append(alerts, a) }, Now: fixtureClock(resource),
				First: func(_ context.Context, key, _ string) (bool, error) {
					asked++
					first := !seen[key]
					seen[key] = true
					return first, nil
				}}
			// Every other header first, then the right one, then all again.
			var order []string
			for _, header := range headers {
				if header != resource {
					order = append(order, header)
				}
			}
			order = append(order, resource)
			order = append(order, headers...)
			for i, header := range order {
				before := asked
				req := httptest.NewRequest("POST", "/sentry/webhook", bytes.NewReader(body))
				req.Header.Set(ResourceHeader, header)
				req.Header.Set(SignatureHeader, sign(goldenSecret, body))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				want := http.StatusNoContent
				switch header {
				case ResourceEventAlert, ResourceMetricAlert, ResourceIssue:
					if header != resource {
						want = http.StatusBadRequest
					}
				}
				if rec.Code != want {
					t.Errorf("delivery %d under %q: got %d, want %d (%s)", i, header, rec.Code, want, rec.Body)
				}
				if want == http.StatusBadRequest && asked != before {
					t.Errorf("delivery %d under %q: the store was asked; want it refused before", i, header)
				}
			}
			if len(alerts) != 1 || alerts[0].Resource != resource {
				t.Errorf("got %d alerts %+v, want one %s", len(alerts), alerts, resource)
			}
		})
	}
}

// TestParseAlertShape: a body is read only as the resource whose member of
// data it has, and only that one.
func TestParseAlertShape(t *testing.T) {
	tests := []struct {
		name, resource, body, wantErr string
	}{
		{"activity alert as an issue", ResourceIssue, `{"action":"triggered","data":{"issue":{"title":"x"},"activity":{"type":"set_priority"}}}`, "that of activity_alert, not of issue"},
		{"event and issue", ResourceEventAlert, `{"action":"triggered","data":{"event":{"title":"x"},"issue":{"title":"y"}}}`, "none, or several"},
		{"null issue", ResourceIssue, `{"action":"created","data":{"issue":null}}`, "none, or several"},
		{"data not an object", ResourceIssue, `{"action":"created","data":[{"issue":{}}]}`, "payload data"},
		{"error event as an event alert", ResourceEventAlert, `{"action":"created","data":{"error":{"title":"x"}}}`, "none, or several"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAlert(tt.resource, []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %+v, %v; want an error saying %q", a, err, tt.wantErr)
			}
		})
	}
}

// TestWebhookPayloadRefusalsLogLimited: a signed body refused for its
// payload (here sent again under another resource, as only a replay does)
// is logged at most once per RefusalLog.Every, apart from the refusals of
// bad signatures, which it does not silence.
func TestWebhookPayloadRefusalsLogLimited(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var logged syncbuf.Buffer
	h := &WebhookHandler{Secret: goldenSecret, Log: slog.New(slog.NewTextHandler(&logged, nil)),
		RefusalLog: &ratelog.Limiter{Every: time.Minute, Now: func() time.Time { return now }}}
	body := readPayload(t, "issue.json")
	post := func(sig string) int {
		req := httptest.NewRequest("POST", "/sentry/webhook", bytes.NewReader(body))
		req.Header.Set(ResourceHeader, ResourceEventAlert)
		req.Header.Set(SignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 20 {
		if code := post(sign(goldenSecret, body)); code != http.StatusBadRequest {
			t.Fatalf("delivery %d: got %d, want 400", i, code)
		}
	}
	if code := post(strings.Repeat("0", 64)); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: got %d, want 401", code)
	}
	l := logged.String()
	if n := strings.Count(l, "unreadable payload"); n != 1 || !strings.Contains(l, "not of event_alert") {
		t.Errorf("after 20 refusals in a minute: got %d payload lines, want 1 saying the payload is not an event alert:\n%s", n, l)
	}
	if n := strings.Count(l, "bad or missing signature"); n != 1 {
		t.Errorf("got %d signature lines, want 1:\n%s", n, l)
	}
}

// TestWebhookFreshness: the signature proves where a body came from, not
// when, and First forgets after DedupeRetention; so a delivery whose own
// time, inside the signed body, is older than its bound (MaxAge, or
// MaxIncidentAge for a metric alert) or ahead of the clock by more than
// MaxClockSkew is dropped with 204, for Sentry not to send it again,
// before the store is asked, and logged; one without a time it could be
// judged by is refused with 400. The time is the one closest to when
// Sentry sent the notification: an issue alert's received (Sentry's clock)
// before its event's own time, an issue's lastSeen before its firstSeen, a
// metric alert's latest incident date.
func TestWebhookFreshness(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339Nano) }
	epoch := func(d time.Duration) float64 { return float64(now.Add(-d).UnixMilli()) / 1000 }
	const (
		fresh   = "fresh"   // 204, an alert
		dropped = "dropped" // 204, no alert, logged
		refused = "refused" // 400, no alert, logged
	)
	tests := []struct {
		name     string
		resource string
		fields   map[string]any // the dated object's time fields
		want     string
		logged   string
	}{
		{"event received a minute ago", ResourceEventAlert, map[string]any{"received": epoch(time.Minute), "datetime": ago(time.Minute)}, fresh, ""},
		{"event received just inside MaxAge", ResourceEventAlert, map[string]any{"received": epoch(MaxAge - time.Minute)}, fresh, ""},
		{"event received before MaxAge", ResourceEventAlert, map[string]any{"received": epoch(MaxAge + time.Minute), "datetime": ago(MaxAge + time.Minute)}, dropped, "too long ago"},
		{"event received a week ago", ResourceEventAlert, map[string]any{"received": epoch(7 * 24 * time.Hour)}, dropped, "too long ago"},
		{"old event received now (an offline client's)", ResourceEventAlert, map[string]any{"received": epoch(time.Minute), "datetime": ago(3 * time.Hour)}, fresh, ""},
		{"event with no received: its own time", ResourceEventAlert, map[string]any{"datetime": ago(10 * time.Minute)}, fresh, ""},
		{"event with no received, old", ResourceEventAlert, map[string]any{"datetime": ago(2 * time.Hour)}, dropped, "too long ago"},
		{"event received ahead within skew", ResourceEventAlert, map[string]any{"received": epoch(-MaxClockSkew + time.Minute)}, fresh, ""},
		{"event received ahead beyond skew", ResourceEventAlert, map[string]any{"received": epoch(-MaxClockSkew - time.Minute)}, dropped, "ahead of this bot's clock"},
		{"event without a time", ResourceEventAlert, map[string]any{}, refused, "no time"},
		{"event with a null received", ResourceEventAlert, map[string]any{"received": nil}, refused, "no time"},
		{"event received at a negative time", ResourceEventAlert, map[string]any{"received": -1.0}, refused, "received"},
		{"event with an unreadable time", ResourceEventAlert, map[string]any{"datetime": "yesterday"}, refused, "datetime"},
		{"metric alert started now", ResourceMetricAlert, map[string]any{"date_started": ago(time.Minute), "date_detected": ago(time.Minute), "date_created": ago(0), "date_closed": nil}, fresh, ""},
		{"metric alert turned critical, incident started hours ago", ResourceMetricAlert, map[string]any{"date_started": ago(23 * time.Hour), "date_detected": ago(23 * time.Hour)}, fresh, ""},
		{"metric alert of an incident started before MaxIncidentAge", ResourceMetricAlert, map[string]any{"date_started": ago(MaxIncidentAge + time.Minute), "date_closed": nil}, dropped, "too long ago"},
		{"metric alert resolved now, incident started days ago", ResourceMetricAlert, map[string]any{"date_started": ago(72 * time.Hour), "date_closed": ago(time.Minute)}, fresh, ""},
		{"metric alert resolved a week ago", ResourceMetricAlert, map[string]any{"date_started": ago(9 * 24 * time.Hour), "date_closed": ago(7 * 24 * time.Hour)}, dropped, "too long ago"},
		{"metric alert without a time", ResourceMetricAlert, map[string]any{"date_closed": nil}, refused, "no time"},
		{"issue seen a minute ago", ResourceIssue, map[string]any{"firstSeen": ago(time.Minute), "lastSeen": ago(time.Minute)}, fresh, ""},
		{"old issue seen again now (regressed)", ResourceIssue, map[string]any{"firstSeen": ago(30 * 24 * time.Hour), "lastSeen": ago(time.Minute)}, fresh, ""},
		{"issue last seen before MaxAge", ResourceIssue, map[string]any{"firstSeen": ago(3 * time.Hour), "lastSeen": ago(MaxAge + time.Minute)}, dropped, "too long ago"},
		{"issue with only firstSeen", ResourceIssue, map[string]any{"firstSeen": ago(10 * time.Minute)}, fresh, ""},
		{"issue with Sentry's +00:00 offset", ResourceIssue, map[string]any{"lastSeen": now.Add(-time.Minute).Format("2006-01-02T15:04:05.000000-07:00")}, fresh, ""},
		{"issue without a time", ResourceIssue, map[string]any{}, refused, "no time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dated := map[string]any{"title": "ReferenceError: x is not defined"}
			for k, v := range tt.fields {
				dated[k] = v
			}
			var data map[string]any
			action := "triggered"
			switch tt.resource {
			case ResourceEventAlert:
				data = map[string]any{"event": dated, "triggered_rule": "r"}
			case ResourceMetricAlert:
				action, data = "critical", map[string]any{"metric_alert": dated}
			case ResourceIssue:
				action, data = "created", map[string]any{"issue": dated}
			}
			body, err := json.Marshal(map[string]any{"action": action, "data": data})
			if err != nil {
				t.Fatal(err)
			}
			rec, logged, asked, alerted := deliverAt(now, tt.resource, body)
			wantStatus, wantAlerts, wantAsked := http.StatusNoContent, 0, 0
			switch tt.want {
			case fresh:
				wantAlerts, wantAsked = 1, 1
			case refused:
				wantStatus = http.StatusBadRequest
			}
			if rec.Code != wantStatus || alerted != wantAlerts || asked != wantAsked {
				t.Errorf("got %d, %d alerts, store asked %d times; want %d, %d, %d (%s)", rec.Code, alerted, asked, wantStatus, wantAlerts, wantAsked, rec.Body)
			}
			l := logged
			if tt.logged != "" && (!strings.Contains(l, "level=WARN") || !strings.Contains(l, tt.logged)) {
				t.Errorf("log: got %q, want a WARN saying %q", l, tt.logged)
			}
			if tt.logged == "" && strings.Contains(l, "level=WARN") {
				t.Errorf("log: got %q, want no WARN", l)
			}
		})
	}
}

// deliverAt sends body, signed, as resource to a handler whose clock
// reads now, and returns its answer, its log, how many times it asked the
// duplicate check (which finds every body new) and how many alerts it
// raised.
func deliverAt(now time.Time, resource string, body []byte) (rec *httptest.ResponseRecorder, logged string, asked, alerted int) {
	var log bytes.Buffer
	h := &WebhookHandler{Secret: goldenSecret, Now: func() time.Time { return now },
		Log:     slog.New(slog.NewTextHandler(&log, nil)),
		OnAlert: func(Alert) { alerted++ },
		First:   func(context.Context, string, string) (bool, error) { asked++; return true, nil }}
	req := httptest.NewRequest("POST", "/sentry/webhook", bytes.NewReader(body))
	req.Header.Set(ResourceHeader, resource)
	req.Header.Set(SignatureHeader, sign(goldenSecret, body))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, log.String(), asked, alerted
}

// TestDedupeOutlivesFreshness: a key must be remembered for longer than a
// delivery is accepted after its time, else a captured delivery sent again
// once its key is forgotten would be taken as new.
func TestDedupeOutlivesFreshness(t *testing.T) {
	for _, maxAge := range []time.Duration{MaxAge, MaxIncidentAge} {
		if DedupeRetention <= maxAge+MaxClockSkew {
			t.Errorf("DedupeRetention %v: want more than %v + %v", DedupeRetention, maxAge, MaxClockSkew)
		}
	}
}

// TestWebhookIgnoresWhatIsNotPosted: an issue resolved, assigned,
// archived or ignored, which the bot does not post, is answered 204 and
// ignored whatever its time, with no WARN (an issue handled by hand long
// after its last event is no replay) and no duplicate check; what the bot
// posts is still judged by its time.
func TestWebhookIgnoresWhatIsNotPosted(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	old := now.Add(-48 * time.Hour).Format(time.RFC3339Nano)
	tests := []struct {
		resource, action string
		dated            map[string]any
		warned           bool // as a delivery too old
	}{
		{ResourceIssue, "resolved", map[string]any{"lastSeen": old}, false},
		{ResourceIssue, "assigned", map[string]any{"lastSeen": old}, false},
		{ResourceIssue, "archived", map[string]any{}, false},
		{ResourceIssue, "ignored", map[string]any{"lastSeen": old}, false},
		{ResourceIssue, "created", map[string]any{"lastSeen": old}, true},
		{ResourceMetricAlert, "resolved", map[string]any{"date_closed": old}, true},
	}
	for _, tt := range tests {
		t.Run(tt.resource+"/"+tt.action, func(t *testing.T) {
			member := map[string]string{ResourceIssue: "issue", ResourceMetricAlert: "metric_alert"}[tt.resource]
			body, err := json.Marshal(map[string]any{"action": tt.action, "data": map[string]any{member: tt.dated}})
			if err != nil {
				t.Fatal(err)
			}
			rec, logged, asked, alerted := deliverAt(now, tt.resource, body)
			if rec.Code != http.StatusNoContent || alerted != 0 || asked != 0 {
				t.Errorf("got %d, %d alerts, store asked %d times; want 204, none, never", rec.Code, alerted, asked)
			}
			if got := strings.Contains(logged, "level=WARN"); got != tt.warned {
				t.Errorf("log %q: WARN %v, want %v", logged, got, tt.warned)
			}
		})
	}
}

// TestWebhookStoreFullAnswer: a duplicate check the embedded store refused
// to write is answered 503 with why, in the store's own words, without the
// file it names: its disk is full, or its file reached the size limit set
// on the process, which is no full disk and must not be told as one.
func TestWebhookStoreFullAnswer(t *testing.T) {
	full := func(why string, errno syscall.Errno) error {
		cause := &os.PathError{Op: "truncate", Path: "/srv/switchman/state.db", Err: errno}
		return fmt.Errorf("first: %w", &errs.Error{Code: errs.Unavailable,
			Msg: "state store /srv/switchman/state.db cannot be written: " + why + " (" + errno.Error() + ")",
			Err: fmt.Errorf("%w: %w", deploy.ErrStoreFull, cause)})
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"disk full", full("its disk is full", syscall.ENOSPC), "state store cannot be written: its disk is full (no space left on device)"},
		{"quota", full("its disk is full", syscall.EDQUOT), "state store cannot be written: its disk is full (disk quota exceeded)"},
		{"file size limit", full("its file reached the size limit set on the process", syscall.EFBIG),
			"state store cannot be written: its file reached the size limit set on the process (file too large)"},
		{"no message of the store's", fmt.Errorf("first: %w", deploy.ErrStoreFull), "state store cannot be written"},
	}
	body := readPayload(t, "issue.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &WebhookHandler{Secret: goldenSecret, Now: fixtureClock(ResourceIssue),
				Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
				OnAlert: func(Alert) { t.Error("alerted for a delivery the store could not check") },
				First:   func(context.Context, string, string) (bool, error) { return false, tt.err }}
			req := httptest.NewRequest("POST", "/sentry/webhook", bytes.NewReader(body))
			req.Header.Set(ResourceHeader, "issue")
			req.Header.Set(SignatureHeader, sign(goldenSecret, body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := strings.TrimSuffix(rec.Body.String(), "\n"); rec.Code != http.StatusServiceUnavailable || got != tt.want {
				t.Errorf("got %d %q, want 503 %q", rec.Code, got, tt.want)
			}
		})
	}
}

// TestWebhookStoreUnusableAnswer: a duplicate check the embedded store
// refused because its file is damaged, or no longer mapped in memory, is
// answered 503 with that, without the file the store's message names: it
// was answered as a refusal whose reason only the bot's log had.
func TestWebhookStoreUnusableAnswer(t *testing.T) {
	const want = "state store is damaged or no longer mapped in memory; an admin must repair it, as the bot's log says"
	for name, msg := range map[string]string{
		"damaged":  "state store /srv/switchman/state.db is damaged: page 5: invalid page type: 0: stop the bot, then restore it from a backup",
		"unmapped": "state store /srv/switchman/state.db is no longer mapped in memory: mapping it anew failed as it grew (cannot allocate memory): restart the bot, which maps it again",
	} {
		t.Run(name, func(t *testing.T) {
			err := fmt.Errorf("first: %w", &errs.Error{Code: errs.Unavailable, Msg: msg, Err: deploy.ErrStoreUnusable})
			h := &WebhookHandler{Secret: goldenSecret, Now: fixtureClock(ResourceIssue),
				Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
				OnAlert: func(Alert) { t.Error("alerted for a delivery the store could not check") },
				First:   func(context.Context, string, string) (bool, error) { return false, err }}
			body := readPayload(t, "issue.json")
			req := httptest.NewRequest("POST", "/sentry/webhook", bytes.NewReader(body))
			req.Header.Set(ResourceHeader, "issue")
			req.Header.Set(SignatureHeader, sign(goldenSecret, body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := strings.TrimSuffix(rec.Body.String(), "\n")
			if rec.Code != http.StatusServiceUnavailable || got != want {
				t.Errorf("got %d %q, want 503 %q", rec.Code, got, want)
			}
			if strings.Contains(got, "/srv/") {
				t.Errorf("answer %q names the store's file", got)
			}
		})
	}
}
