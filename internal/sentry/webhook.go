package sentry

import (
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
	"net/url"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/ratelog"
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

// WebhookHandler receives Sentry's integration-platform webhooks. Without
// a Secret the webhook is off: every request is answered 404 unread. It
// accepts POSTs whose Sentry-Hook-Signature verifies against Secret (else
// 401), of at most MaxWebhookBody bytes (else 413), and calls OnAlert for
// event_alert, metric_alert and issue resources; other resources get 204
// and are ignored. A body that does not parse, or whose shape is not that
// of the resource its Sentry-Hook-Resource names, is answered 400 (see
// ParseAlert): the signature does not cover that header, so it only
// chooses between reading a body and ignoring it, never how to read it.
//
// Sentry gives a webhook one second to answer and unsubscribes endpoints
// that time out often, so OnAlert must hand the alert off, not post to chat
// synchronously. The handler is safe for concurrent use if OnAlert is.
type WebhookHandler struct {
	Secret  string
	OnAlert func(Alert)
	// First, when set, reports whether key (one per delivered body,
	// whatever the unsigned headers that came with it) is new, and
	// remembers it: the signature proves where a body came from, not
	// when, so a captured delivery sent again is answered 204 and
	// dropped. A delivery First cannot judge (the store is unreachable) is
	// refused with 503, for Sentry to send again; so is one it has not
	// judged within FirstTimeout (default DefaultFirstTimeout).
	First        func(ctx context.Context, key string) (bool, error)
	FirstTimeout time.Duration
	// Log receives rejected requests; nil discards.
	Log *slog.Logger
	// RefusalLog bounds the WARN lines of deliveries refused for their
	// signature, which anyone who reaches the listener can send, and of
	// signed ones refused for their payload, which whoever captured one
	// can send again as often; nil: a ratelog.Limiter of the handler's
	// own. Pass one Limiter to every endpoint.
	RefusalLog *ratelog.Limiter

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
	a, err := ParseAlert(resource, body)
	if err != nil {
		h.refusalLog().Warn(log, payloadKind, "sentry webhook: unreadable payload", "resource", resource, "err", err)
		http.Error(w, "unreadable payload", http.StatusBadRequest)
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
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		first, err := h.First(ctx, "sentry-webhook:"+hex.EncodeToString(sum[:]))
		cancel()
		if err != nil {
			log.Error("sentry webhook: cannot tell whether it was delivered before; refused for Sentry to send again", "resource", resource, "timeout", timeout, "err", err)
			http.Error(w, "state store unreachable", http.StatusServiceUnavailable)
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

// ParseAlert reads the payload of a webhook of resource event_alert,
// metric_alert or issue (see Sentry's "Issue Alerts", "Metric Alerts" and
// "Issues" webhook pages). The body does not name its resource, but each
// has a member of data of its own (see payloadShapes); a body without the
// one of resource, or with another's as well, is an error: the resource
// comes from a header the signature does not cover, and a body of one
// kind read as another would be an alert Sentry never sent.
func ParseAlert(resource string, body []byte) (Alert, error) {
	var env struct {
		Action string          `json:"action"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Alert{}, err
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return Alert{}, errors.New("payload has no data")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(env.Data, &members); err != nil {
		return Alert{}, fmt.Errorf("payload data: %w", err)
	}
	switch shape := payloadShape(members); shape {
	case resource:
	case "":
		return Alert{}, fmt.Errorf("payload is not that of %s: its data has none, or several, of event, metric_alert and issue", resource)
	default:
		return Alert{}, fmt.Errorf("payload is that of %s, not of %s", shape, resource)
	}
	a := Alert{Resource: resource, Action: env.Action}
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
			} `json:"event"`
			TriggeredRule string `json:"triggered_rule"`
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return Alert{}, err
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
	case ResourceMetricAlert:
		var d struct {
			DescriptionTitle string `json:"description_title"`
			WebURL           string `json:"web_url"`
			MetricAlert      struct {
				Title     string   `json:"title"`
				Projects  []string `json:"projects"`
				AlertRule struct {
					Name        string   `json:"name"`
					Environment *string  `json:"environment"`
					Projects    []string `json:"projects"`
				} `json:"alert_rule"`
			} `json:"metric_alert"`
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return Alert{}, err
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
			} `json:"issue"`
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return Alert{}, err
		}
		i := d.Issue
		a.Title, a.URL, a.Level, a.Project = i.Title, i.WebURL, i.Level, i.Project.Slug
		if a.URL == "" {
			a.URL = i.Permalink
		}
	default:
		return Alert{}, errors.New("unsupported resource " + resource)
	}
	return a, nil
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
