package slack_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiCall is one request the fake Slack Web API received.
type apiCall struct {
	Method  string // "chat.postMessage", "chat.update", "chat.postEphemeral", "response_url", …
	Channel string
	TS      string
	User    string
	Text    string // the fallback text
	Blocks  string // the blocks, as JSON
	// Unfurl is the unfurl_links and unfurl_media arguments, as
	// "links=… media=…" ("" each when absent: Slack's default).
	Unfurl string
	// Original is a response_url message's replace_original and
	// delete_original, as "replace=… delete=…" ("" each when absent).
	Original string
	Status   int // what the fake answered
	At       time.Time
}

// fakeSlack is an httptest.Server on 127.0.0.1 speaking the parts of
// Slack's Web API the adapter uses. Point a client at URL()+"/api/".
type fakeSlack struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	calls    []apiCall
	n        int
	limit    map[string]int    // method → how many 429s to answer next
	failWith map[string]string // method → Slack error code to answer
	failNext map[string]string // method → Slack error code to answer once
	// limitAfter makes the n-th call of a method (1-based) answer 429 once.
	limitAfter map[string]int
	// retryAfter is the Retry-After of a method's 429s, in seconds; default 1.
	retryAfter map[string]int
	// rawRetryAfter, where it names a method, is the Retry-After of its
	// 429s as written, "" for none; it overrides retryAfter.
	rawRetryAfter map[string]string
	// failIn makes every chat.postMessage, chat.update and
	// chat.postEphemeral in a channel answer that Slack error code, as
	// Slack does once the channel is archived or the bot removed from it.
	failIn map[string]string
	count  map[string]int
	// channels maps channel names to ids, as Slack resolves "#deploys".
	channels map[string]string
	// ws serves /ws, the Socket Mode WebSocket, when set.
	ws http.HandlerFunc
	// limitWhen, when set, makes a call it returns true for answer 429;
	// it is called with mu held.
	limitWhen func(c apiCall) bool
	// stallWhen, when set, makes a call it returns true for get no
	// answer until its client gives up or the server closes; it is
	// called with mu held.
	stallWhen func(c apiCall) bool
}

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	f := &fakeSlack{t: t, limit: map[string]int{}, failWith: map[string]string{}, failNext: map[string]string{}, limitAfter: map[string]int{}, retryAfter: map[string]int{}, rawRetryAfter: map[string]string{}, failIn: map[string]string{}, count: map[string]int{},
		channels: map[string]string{"#deploys": "CDEPLOYS"}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) apiURL() string { return f.srv.URL + "/api/" }

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws" && f.ws != nil {
		f.ws(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if strings.HasPrefix(r.URL.Path, "/response/") {
		var m struct {
			Text         string          `json:"text"`
			Blocks       json.RawMessage `json:"blocks"`
			ResponseType string          `json:"response_type"`
			UnfurlLinks  *bool           `json:"unfurl_links"`
			UnfurlMedia  *bool           `json:"unfurl_media"`
			Replace      *bool           `json:"replace_original"`
			Delete       *bool           `json:"delete_original"`
		}
		json.Unmarshal(body, &m)
		c := apiCall{Method: "response_url", Text: m.Text, Blocks: string(m.Blocks), User: m.ResponseType, Status: 200,
			Unfurl:   "links=" + boolArg(m.UnfurlLinks) + " media=" + boolArg(m.UnfurlMedia),
			Original: "replace=" + boolArg(m.Replace) + " delete=" + boolArg(m.Delete)}
		if msg := blockKitError(c.Blocks, c.Text); msg != "" {
			// A response_url refuses blocks with a 400 and Slack's error.
			c.Status = http.StatusBadRequest
			f.record(c)
			http.Error(w, msg, http.StatusBadRequest)
			return
		}
		f.record(c)
		io.WriteString(w, "ok")
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	form, _ := url.ParseQuery(string(body))
	for k, v := range r.URL.Query() { // some methods are GETs
		if _, ok := form[k]; !ok {
			form[k] = v
		}
	}
	if got := r.Header.Get("Authorization"); got != "Bearer xoxb-test" && form.Get("token") != "xoxb-test" && method != "apps.connections.open" {
		f.t.Errorf("%s: got no bot token, want Bearer xoxb-test", method)
	}
	c := apiCall{Method: method, Channel: form.Get("channel"), TS: form.Get("ts"), User: form.Get("user"), Text: form.Get("text"), Blocks: form.Get("blocks"),
		Unfurl: "links=" + form.Get("unfurl_links") + " media=" + form.Get("unfurl_media")}
	f.mu.Lock()
	f.count[method]++
	limited := f.limit[method] > 0 || f.limitAfter[method] == f.count[method] || f.limitWhen != nil && f.limitWhen(c)
	if f.limit[method] > 0 {
		f.limit[method]--
	}
	wait := strconv.Itoa(max(f.retryAfter[method], 1))
	if raw, ok := f.rawRetryAfter[method]; ok {
		wait = raw
	}
	fail := f.failWith[method]
	if once, ok := f.failNext[method]; ok {
		fail = once
		delete(f.failNext, method)
	}
	if id, ok := f.channels[c.Channel]; ok {
		c.Channel = id
	}
	if code, ok := f.failIn[c.Channel]; ok && (method == "chat.postMessage" || method == "chat.update" || method == "chat.postEphemeral") {
		fail = code
	}
	f.n++
	n := f.n
	stall := f.stallWhen != nil && f.stallWhen(c)
	f.mu.Unlock()
	if stall {
		f.record(c) // status 0: never answered
		<-r.Context().Done()
		return
	}
	if limited {
		c.Status = http.StatusTooManyRequests
		f.record(c)
		if wait != "" {
			w.Header().Set("Retry-After", wait)
		}
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	c.Status = http.StatusOK
	if method == "chat.postMessage" {
		c.TS = fmt.Sprintf("1700000000.%06d", n)
	}
	f.record(c)
	w.Header().Set("Content-Type", "application/json")
	if fail == "" && strings.HasPrefix(method, "chat.") && method != "chat.getPermalink" {
		// Slack refuses the whole message when a block is over a limit.
		if msg := blockKitError(c.Blocks, c.Text); msg != "" {
			code, detail, _ := strings.Cut(msg, ": ")
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code, "errors": []string{detail},
				"response_metadata": map[string]any{"messages": []string{"[ERROR] " + detail}}})
			return
		}
	}
	if fail != "" {
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": fail})
		return
	}
	switch method {
	case "chat.postMessage":
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS, "message": map[string]any{"text": c.Text}})
	case "chat.update":
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS, "text": c.Text})
	case "chat.postEphemeral":
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "message_ts": fmt.Sprintf("1700000001.%06d", n)})
	case "chat.getPermalink":
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": c.Channel, "permalink": "http://127.0.0.1/archives/" + c.Channel + "/p" + strings.ReplaceAll(form.Get("message_ts"), ".", "")})
	case "apps.connections.open":
		if got := r.Header.Get("Authorization"); got != "Bearer xapp-test" {
			f.t.Errorf("apps.connections.open: got authorization %q, want the app token", got)
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws"})
	case "auth.test":
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": "https://acme.slack.com/", "team": "Acme", "user": "switchman", "team_id": "T1", "user_id": "UBOT", "bot_id": "BBOT"})
	case "users.getPresence":
		if form.Get("user") == "UERROR" {
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "user_not_found"})
			return
		}
		presence := "away"
		if form.Get("user") == "UACTIVE" {
			presence = "active"
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "presence": presence})
	default:
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "unknown_method"})
	}
}

// boolArg is a JSON boolean as the form argument it stands for: "" when
// absent.
func boolArg(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func (f *fakeSlack) record(c apiCall) {
	c.At = time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// snapshot returns the calls so far.
func (f *fakeSlack) snapshot() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

// waitFor polls until ok holds for the calls, or fails the test.
func (f *fakeSlack) waitFor(what string, ok func([]apiCall) bool) []apiCall {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		calls := f.snapshot()
		if ok(calls) {
			return calls
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s; calls:\n%s", what, describe(calls))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func describe(calls []apiCall) string {
	var b strings.Builder
	for i, c := range calls {
		fmt.Fprintf(&b, "%2d %-20s %3d channel=%s ts=%s user=%s text=%q\n", i, c.Method, c.Status, c.Channel, c.TS, c.User, firstLine(c.Text))
	}
	return b.String()
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// only keeps the calls of the given methods.
func only(calls []apiCall, methods ...string) []apiCall {
	var out []apiCall
	for _, c := range calls {
		for _, m := range methods {
			if c.Method == m {
				out = append(out, c)
			}
		}
	}
	return out
}
