package sentry

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/ratelog"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Header names of Sentry's integration-platform webhooks.
const (
	SignatureHeader = "Sentry-Hook-Signature"
	ResourceHeader  = "Sentry-Hook-Resource"
)

// Webhook resources the handler turns into alerts; others (installation,
// error, comment, …) are acknowledged and ignored.
const (
	ResourceEventAlert  = "event_alert"
	ResourceMetricAlert = "metric_alert"
	ResourceIssue       = "issue"
)

// MaxWebhookBody is the largest webhook body accepted.
const MaxWebhookBody = 1 << 20

// DefaultFirstTimeout bounds the duplicate check (WebhookHandler.First):
// Sentry waits one second for an answer, and a store that hangs must not
// hold the request until the server's write timeout.
const DefaultFirstTimeout = 500 * time.Millisecond

// DefaultForgetTimeout bounds WebhookHandler.Forget, which runs once
// Sentry has its answer.
const DefaultForgetTimeout = 2 * time.Second

// Bounds on a delivery's own time, which its signed body carries (see
// WebhookHandler): the signature proves where a body came from, not when,
// and First forgets a key after DedupeRetention, so a delivery older than
// its bound, or dated further ahead of the clock than MaxClockSkew, is
// dropped. A captured delivery sent again is either remembered or too old.
const (
	// MaxAge bounds the time of an issue alert (when Sentry received the
	// event that fired it) and of an issue (when Sentry last saw an event
	// of it): Sentry sends within seconds of either, and sends one that
	// failed again at most three times, five minutes apart.
	MaxAge = time.Hour
	// MaxIncidentAge bounds a metric alert's time, the latest of its
	// incident's dates: its body says when the incident started and when
	// it closed, not when it turned critical or warning, which may be
	// hours into it.
	MaxIncidentAge = 24 * time.Hour
	// MaxClockSkew is how far ahead of the handler's clock a delivery's
	// time may be, for Sentry's clock and the bot's to differ a little.
	MaxClockSkew = 5 * time.Minute
	// DedupeRetention is how long First must remember a key: longer than
	// a delivery is accepted after its time.
	DedupeRetention = 7 * 24 * time.Hour
)

// VerifySignature reports whether header, the Sentry-Hook-Signature of a
// webhook, is the hex HMAC-SHA256 of the raw body keyed with the
// integration's client secret. The comparison is constant-time. An empty
// secret or header never verifies.
//
// The signature covers the body only (not Sentry-Hook-Timestamp), so it
// proves origin and integrity, not freshness.
func VerifySignature(secret string, body []byte, header string) bool {
	if secret == "" || header == "" {
		return false
	}
	got, err := hex.DecodeString(strings.TrimSpace(header))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Alert is a Sentry alert or issue notification, reduced to what a chat
// message needs. Fields Sentry left out are empty.
type Alert struct {
	// Resource is the Sentry-Hook-Resource: event_alert, metric_alert or issue.
	Resource string
	// Action is the payload's action: "triggered" for event alerts;
	// "critical", "warning" or "resolved" for metric alerts; "created",
	// "resolved", "assigned", "archived" or "unresolved" for issues.
	Action string
	// Project is the Sentry project slug (for a metric alert over several
	// projects, the first).
	Project     string
	Environment string
	Title       string
	// URL is the page in Sentry (the event, the issue or the alert).
	URL string
	// Level is the event or issue level (error, fatal, warning, …); for a
	// metric alert, its action (critical, warning, resolved).
	Level string
	// Rule names the alert rule that fired, when there is one.
	Rule string
}

// Fires reports whether a is an alert going off rather than one
// settling: an event alert triggered, a metric alert critical or warning,
// an issue created or unresolved again (a regression).
func (a Alert) Fires() bool {
	switch a.Resource {
	case ResourceEventAlert:
		return a.Action == "triggered" || a.Action == ""
	case ResourceMetricAlert:
		return a.Action == "critical" || a.Action == "warning"
	case ResourceIssue:
		return a.Action == "created" || a.Action == "unresolved"
	}
	return false
}

// Posted reports whether the bot posts a: when it fires, or when it is a
// metric alert that resolved (the all-clear of one it posted). An issue
// resolved, assigned, archived or ignored is not posted.
func (a Alert) Posted() bool {
	return a.Fires() || a.Resource == ResourceMetricAlert && a.Action == "resolved"
}

// WebhookHandler receives Sentry's integration-platform webhooks. Without
// a Secret the webhook is off: every request is answered 404 unread. It
// accepts POSTs whose Sentry-Hook-Signature verifies against Secret (else
// 401), of at most MaxWebhookBody bytes (else 413), and calls OnAlert for
// event_alert, metric_alert and issue resources the bot posts (see
// Alert.Posted); others get 204 and are ignored, before their time is
// judged. A body that does not parse, or whose shape is not that
// of the resource its Sentry-Hook-Resource names, is answered 400 (see
// ParseAlert): the signature does not cover that header, so it only
// chooses between reading a body and ignoring it, never how to read it.
//
// A body read is judged by its own time, the one closest to when Sentry
// sent it: an issue alert's data.event.received (Sentry's clock; else the
// event's datetime, the client's), an issue's lastSeen (else firstSeen), a
// metric alert's latest incident date (date_closed, date_started, …). One
// older than MaxAge (MaxIncidentAge for a metric alert), or ahead of Now by
// more than MaxClockSkew, is answered 204, for Sentry not to send it
// again, and dropped; one without such a time is refused with 400 (every
// payload of Sentry's pages has one).
//
// Sentry gives a webhook one second to answer and unsubscribes endpoints
// that time out often, so OnAlert must hand the alert off, not post to chat
// synchronously. The handler is safe for concurrent use if OnAlert is.
type WebhookHandler struct {
	Secret  string
	OnAlert func(Alert)
	// First, when set, reports whether key (one per delivered body,
	// whatever the unsigned headers that came with it) is new, and
	// remembers it with token, which is unique to the delivery: the
	// signature proves where a body came from, not when, so a captured
	// delivery sent again is answered 204 and dropped. A delivery First
	// cannot judge (the store cannot be reached, or refuses) is refused
	// with 503, for Sentry to send again, its answer saying why in a few
	// words that name no host (the log has the error); so is one it has
	// not judged within FirstTimeout (default DefaultFirstTimeout).
	First        func(ctx context.Context, key, token string) (bool, error)
	FirstTimeout time.Duration
	// Forget, when set, undoes First for a delivery refused with 503:
	// the store may have remembered its key all the same (it answered
	// too late, or its answer was lost), and would then drop Sentry's
	// resend as delivered before, and its alert for good. It must remove
	// key only while it holds token, never the key of another delivery of
	// the same body, which may have raised its alert. It runs once the
	// answer is sent, within ForgetTimeout (default DefaultForgetTimeout);
	// if it fails, the handler logs an error.
	Forget        func(ctx context.Context, key, token string) error
	ForgetTimeout time.Duration
	// Log receives rejected requests; nil discards.
	Log *slog.Logger
	// RefusalLog bounds the WARN lines of deliveries refused for their
	// signature, which anyone who reaches the listener can send, and of
	// signed ones refused for their payload, which whoever captured one
	// can send again as often; nil: a ratelog.Limiter of the handler's
	// own. Pass one Limiter to every endpoint.
	RefusalLog *ratelog.Limiter

	// Now is the clock deliveries' times are judged by; nil: time.Now.
	Now func() time.Time

	ownRefusalLog ratelog.Limiter
}

// Kinds of the webhook's refusals in RefusalLog: those of requests
// anyone can send, and those of signed bodies, which only a replay sends
// at will; apart, so that a flood of the one does not hide the other.
const (
	refusalKind = "sentry"
	payloadKind = "sentry-payload"
)

func (h *WebhookHandler) refusalLog() *ratelog.Limiter {
	if h.RefusalLog != nil {
		return h.RefusalLog
	}
	return &h.ownRefusalLog
}

func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if h.Secret == "" {
		// Nothing could verify the request: nothing of it is read. The
		// bot said at start why the endpoint is off.
		http.Error(w, "the sentry webhook is off on this bot", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if !VerifySignature(h.Secret, body, r.Header.Get(SignatureHeader)) {
		h.refusalLog().Warn(log, refusalKind, "sentry webhook: bad or missing signature", "remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	resource := r.Header.Get(ResourceHeader)
	switch resource {
	case ResourceEventAlert, ResourceMetricAlert, ResourceIssue:
	default:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a, at, err := parseAlert(resource, body)
	if err == nil && !a.Posted() {
		// Nothing is done with it, so neither its time nor a replay of
		// it matters: an issue assigned or resolved by hand long after
		// its last event would otherwise read as a replay in the log.
		log.Debug("sentry webhook: not an alert the bot posts; ignored", "resource", resource, "action", a.Action, "title", a.Title)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err == nil && at.IsZero() {
		err = errors.New("payload has no time to judge it by")
	}
	if err != nil {
		h.refusalLog().Warn(log, payloadKind, "sentry webhook: unreadable payload", "resource", resource, "err", err)
		http.Error(w, "unreadable payload", http.StatusBadRequest)
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	maxAge := MaxAge
	if resource == ResourceMetricAlert {
		maxAge = MaxIncidentAge
	}
	switch age := now().Sub(at); {
	case age > maxAge:
		h.refusalLog().Warn(log, payloadKind, "sentry webhook: delivery dated too long ago to tell from a replay; dropped",
			"resource", resource, "dated", at, "age", age.Round(time.Second), "max_age", maxAge, "title", a.Title)
		w.WriteHeader(http.StatusNoContent)
		return
	case age < -MaxClockSkew:
		h.refusalLog().Warn(log, payloadKind, "sentry webhook: delivery dated ahead of this bot's clock; dropped (is the clock right?)",
			"resource", resource, "dated", at, "ahead", (-age).Round(time.Second), "max_skew", MaxClockSkew, "title", a.Title)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if h.First != nil {
		// The body alone: the signature covers nothing else, and one body
		// is one notification whatever headers come with it.
		sum := sha256.Sum256(body)
		timeout := h.FirstTimeout
		if timeout <= 0 {
			timeout = DefaultFirstTimeout
		}
		key, token := "sentry-webhook:"+hex.EncodeToString(sum[:]), rand.Text()
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		first, err := h.First(ctx, key, token)
		cancel()
		if err != nil {
			log.Error("sentry webhook: cannot tell whether it was delivered before; refused for Sentry to send again", "resource", resource, "timeout", timeout, "err", err)
			answer(w, http.StatusServiceUnavailable, storeAnswer(err))
			h.forget(r.Context(), log, key, token, a)
			return
		}
		if !first {
			log.Info("sentry webhook: delivered before; dropped", "resource", resource, "title", a.Title)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if h.OnAlert != nil {
		h.OnAlert(a)
	}
	w.WriteHeader(http.StatusNoContent)
}

// storeAnswer is the answer to a delivery refused because its duplicate
// check failed with err: why, as far as Sentry is to know it. Sentry shows
// it to whoever reads the integration's requests there, who need not run
// the bot, so it names the kind of failure and no host, port or file of
// the store, which its own message (deploy.StoreReason) does name; the log
// line beside it keeps the whole error. A store that answers and refuses
// is told apart from one that cannot be reached, as in chat.
func storeAnswer(err error) string {
	why := deploy.StoreReason(err)
	switch {
	case errors.Is(err, deploy.ErrStoreClosed):
		return why // names nothing of the store's
	case errors.Is(err, deploy.ErrStoreReset):
		return "state store was reset under the bot; an admin must restart it"
	case errors.Is(err, deploy.ErrStoreFull):
		// Why, in the store's own words, which alone tell a full disk
		// from a file at the process's size limit; the file they name
		// is left out.
		if _, reason, ok := strings.Cut(why, deploy.StoreFullSays); ok {
			return "state store cannot be written: " + reason
		}
		return "state store cannot be written"
	case errors.Is(err, deploy.ErrStoreUnusable):
		// The store's own message names the file, and what to do
		// with it, which is for whoever runs the bot.
		return "state store is damaged or no longer mapped in memory; an admin must repair it, as the bot's log says"
	case why != deploy.StoreUnreachable:
		return "state store refused the duplicate check; the bot's log says why"
	}
	return deploy.StoreUnreachable
}

// answer sends a plain-text answer whole, its length said, so that the
// sender has all of it while the handler goes on.
func answer(w http.ResponseWriter, code int, msg string) {
	msg += "\n"
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(code)
	io.WriteString(w, msg)
	// A writer that cannot flush sends the answer when the handler returns.
	_ = http.NewResponseController(w).Flush()
}

// forget undoes what First may have remembered of a delivery refused
// with 503, once its answer is sent: Sentry waits one second for it. The
// request may be over by then (Sentry hung up), not the undoing.
func (h *WebhookHandler) forget(ctx context.Context, log *slog.Logger, key, token string, a Alert) {
	if h.Forget == nil {
		return
	}
	timeout := h.ForgetTimeout
	if timeout <= 0 {
		timeout = DefaultForgetTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := h.Forget(ctx, key, token); err != nil {
		log.Error("sentry webhook: cannot undo the duplicate check of a delivery refused for Sentry to send again; "+
			"if the store remembered it, Sentry's resend will be dropped as delivered before and its alert lost",
			"resource", a.Resource, "title", a.Title, "url", a.URL, "timeout", timeout, "err", err)
	}
}

// ParseAlert reads the payload of a webhook of resource event_alert,
// metric_alert or issue (see Sentry's "Issue Alerts", "Metric Alerts" and
// "Issues" webhook pages). The body does not name its resource, but each
// has a member of data of its own (see payloadShapes); a body without the
// one of resource, or with another's as well, is an error: the resource
// comes from a header the signature does not cover, and a body of one
// kind read as another would be an alert Sentry never sent.
func ParseAlert(resource string, body []byte) (Alert, error) {
	a, _, err := parseAlert(resource, body)
	return a, err
}

// parseAlert is ParseAlert, with the payload's own time (see
// WebhookHandler): zero when it has none.
func parseAlert(resource string, body []byte) (Alert, time.Time, error) {
	var env struct {
		Action string          `json:"action"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Alert{}, time.Time{}, err
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return Alert{}, time.Time{}, errors.New("payload has no data")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(env.Data, &members); err != nil {
		return Alert{}, time.Time{}, fmt.Errorf("payload data: %w", err)
	}
	switch shape := payloadShape(members); shape {
	case resource:
	case "":
		return Alert{}, time.Time{}, fmt.Errorf("payload is not that of %s: its data has none, or several, of event, metric_alert and issue", resource)
	default:
		return Alert{}, time.Time{}, fmt.Errorf("payload is that of %s, not of %s", shape, resource)
	}
	a := Alert{Resource: resource, Action: env.Action}
	var at time.Time // the payload's own time
	var err error    // reading it
	switch resource {
	case ResourceEventAlert:
		var d struct {
			Event struct {
				Title       string            `json:"title"`
				WebURL      string            `json:"web_url"`
				URL         string            `json:"url"`
				Level       string            `json:"level"`
				Environment string            `json:"environment"`
				Tags        []json.RawMessage `json:"tags"`
				Received    *float64          `json:"received"`
				Datetime    string            `json:"datetime"`
			} `json:"event"`
			TriggeredRule string `json:"triggered_rule"`
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return Alert{}, time.Time{}, err
		}
		e := d.Event
		a.Title, a.URL, a.Level, a.Rule = e.Title, e.WebURL, e.Level, d.TriggeredRule
		a.Environment = e.Environment
		if a.Environment == "" {
			a.Environment = tagValue(e.Tags, "environment")
		}
		// The event names its project by numeric id; the slug is in its
		// API URL: …/api/0/projects/{org}/{project}/events/{id}/.
		a.Project = projectFromEventURL(e.URL)
		// Sentry's clock when the event came in, which fired the alert;
		// the event's own time is the client's, which may have sent it
		// hours late.
		if e.Received != nil {
			at, err = epochTime("received", *e.Received)
		} else {
			at, err = latest("datetime", e.Datetime)
		}
	case ResourceMetricAlert:
		var d struct {
			DescriptionTitle string `json:"description_title"`
			WebURL           string `json:"web_url"`
			MetricAlert      struct {
				Title        string   `json:"title"`
				Projects     []string `json:"projects"`
				DateStarted  string   `json:"date_started"`
				DateDetected string   `json:"date_detected"`
				DateCreated  string   `json:"date_created"`
				DateClosed   string   `json:"date_closed"`
				AlertRule    struct {
					Name        string   `json:"name"`
					Environment *string  `json:"environment"`
					Projects    []string `json:"projects"`
				} `json:"alert_rule"`
			} `json:"metric_alert"`
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return Alert{}, time.Time{}, err
		}
		m := d.MetricAlert
		a.Title, a.URL, a.Level, a.Rule = d.DescriptionTitle, d.WebURL, env.Action, m.AlertRule.Name
		if a.Title == "" {
			a.Title = m.Title
		}
		if m.AlertRule.Environment != nil {
			a.Environment = *m.AlertRule.Environment
		}
		projects := m.Projects
		if len(projects) == 0 {
			projects = m.AlertRule.Projects
		}
		if len(projects) > 0 {
			a.Project = projects[0]
		}
		// The latest of the incident's dates: its close for a resolved
		// alert, its start for one that opened it.
		at, err = latest("date_started", m.DateStarted, "date_detected", m.DateDetected,
			"date_created", m.DateCreated, "date_closed", m.DateClosed)
	case ResourceIssue:
		var d struct {
			Issue struct {
				Title     string `json:"title"`
				WebURL    string `json:"web_url"`
				Permalink string `json:"permalink"`
				Level     string `json:"level"`
				Project   struct {
					Slug string `json:"slug"`
				} `json:"project"`
				FirstSeen string `json:"firstSeen"`
				LastSeen  string `json:"lastSeen"`
			} `json:"issue"`
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return Alert{}, time.Time{}, err
		}
		i := d.Issue
		a.Title, a.URL, a.Level, a.Project = i.Title, i.WebURL, i.Level, i.Project.Slug
		if a.URL == "" {
			a.URL = i.Permalink
		}
		// The time of its last event: for an issue created or regressed,
		// the one that did it, by its client's clock, so one that reached
		// Sentry late is dropped. An issue resolved, assigned or archived
		// by hand may have been quiet for long before: too old to tell
		// from a replay, it is dropped, and it calls for no rollback.
		at, err = latest("lastSeen", i.LastSeen, "firstSeen", i.FirstSeen)
	default:
		return Alert{}, time.Time{}, errors.New("unsupported resource " + resource)
	}
	if err != nil {
		return Alert{}, time.Time{}, err
	}
	return a.unmarked(), at, nil
}

// unmarked is a without the marks of the bot's suggested commands (see
// suggest): its words are Sentry's and the app's (an issue's title is an
// exception's message), quoted in the message posted of it, where a
// command between the marks would read as the bot's suggestion.
func (a Alert) unmarked() Alert {
	for _, s := range []*string{&a.Action, &a.Project, &a.Environment, &a.Title, &a.URL, &a.Level, &a.Rule} {
		*s = suggest.Strip(*s)
	}
	return a
}

// payloadShapes are the members of a payload's data that tell the
// resources read here apart, per Sentry's webhook pages: an issue alert
// has data.event, a metric alert data.metric_alert, an issue data.issue.
var payloadShapes = []struct{ member, resource string }{
	{"event", ResourceEventAlert},
	{"metric_alert", ResourceMetricAlert},
	{"issue", ResourceIssue},
}

// payloadShape names the resource whose member data has, and only that
// one: "" when it has none of them or several.
func payloadShape(data map[string]json.RawMessage) string {
	has := func(member string) bool {
		v, ok := data[member]
		return ok && string(v) != "null"
	}
	if has("activity") {
		// An activity alert, whose data has an issue too.
		return "activity_alert"
	}
	shape := ""
	for _, s := range payloadShapes {
		if has(s.member) {
			if shape != "" {
				return ""
			}
			shape = s.resource
		}
	}
	return shape
}

// epochTime reads a time Sentry gives in seconds since the epoch.
func epochTime(name string, sec float64) (time.Time, error) {
	if !(sec > 0 && sec < 1<<34) {
		return time.Time{}, fmt.Errorf("%s %v: not a time", name, sec)
	}
	return time.UnixMilli(int64(math.Round(sec * 1000))).UTC(), nil
}

// latest reads the RFC 3339 times of pairs of name and value, skipping
// the empty ones, and returns the latest: zero when all are empty.
func latest(pairs ...string) (time.Time, error) {
	var last time.Time
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, pairs[i+1])
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", pairs[i], err)
		}
		if t.After(last) {
			last = t
		}
	}
	return last, nil
}

// tagValue finds key in event tags, sent as [key, value] pairs or as
// {"key": …, "value": …} objects.
func tagValue(tags []json.RawMessage, key string) string {
	for _, raw := range tags {
		var pair []string
		if json.Unmarshal(raw, &pair) == nil {
			if len(pair) == 2 && pair[0] == key {
				return pair[1]
			}
			continue
		}
		var kv struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		if json.Unmarshal(raw, &kv) == nil && kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

func projectFromEventURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "projects" && i >= 2 && parts[i-2] == "api" {
			return parts[i+2]
		}
	}
	return ""
}
