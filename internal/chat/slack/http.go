package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
)

// MaxInteractionBody is the default bound of a click's body, and of an
// event's. Slack sends the whole message a button is in with its click:
// the summary of a failed deploy with its hosts' errors renders to about
// 90 KB of JSON, 138 KB form-encoded, past the 64 KiB of other requests,
// and a click on one of its buttons would have been refused. A mention
// carries its whole message twice (text and rich-text blocks): one of
// Slack's 40,000 characters comes to about 80 KB.
const MaxInteractionBody = 1 << 20

// Commands handles slash commands (POST /slack/commands).
func (a *Adapter) Commands() http.Handler {
	return a.endpoint("commands", a.opt.MaxBody, a.serveCommand)
}

// Interactions handles button clicks (POST /slack/interactions). Mount it
// with a body limit of at least InteractionsMaxBody.
func (a *Adapter) Interactions() http.Handler {
	return a.endpoint("interactions", a.opt.MaxInteractionBody, a.serveInteraction)
}

// InteractionsMaxBody is the largest click body Interactions takes.
func (a *Adapter) InteractionsMaxBody() int64 { return a.opt.MaxInteractionBody }

// Events handles the Events API (POST /slack/events). Mount it with a
// body limit of at least EventsMaxBody.
func (a *Adapter) Events() http.Handler {
	return a.endpoint("events", a.opt.MaxInteractionBody, a.serveEvent)
}

// EventsMaxBody is the largest event body Events takes: a mention in a
// long message, refused for its size, would go unanswered while Slack
// sent it again and again.
func (a *Adapter) EventsMaxBody() int64 { return a.opt.MaxInteractionBody }

// endpoint wraps serve with what every Slack request goes through: POST
// only, a bounded body, and a valid signature. A refused request is
// answered (405, 413, 401) and logged (at most one line per
// RefusalLog.Every, as anyone can send them), and changes nothing. What
// can be judged from the headers (signature headers missing or malformed,
// a stale timestamp, a Content-Length over limit) is, before any of the
// body is read.
func (a *Adapter) endpoint(name string, limit int64, serve func(http.ResponseWriter, *http.Request, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if err := a.verify.checkHeaders(r.Header); err != nil {
			a.opt.RefusalLog.Warn(a.log, Platform, "refused a slack request", "endpoint", name, "remote", r.RemoteAddr, "reason", err.Error())
			http.Error(w, "invalid request signature", http.StatusUnauthorized)
			return
		}
		if r.ContentLength > limit {
			a.opt.RefusalLog.Warn(a.log, Platform, "refused a slack request", "endpoint", name, "remote", r.RemoteAddr, "reason", "body larger than the limit", "limit", limit)
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				a.opt.RefusalLog.Warn(a.log, Platform, "refused a slack request", "endpoint", name, "remote", r.RemoteAddr, "reason", "body larger than the limit", "limit", limit)
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read the request body", http.StatusBadRequest)
			return
		}
		if err := a.verify.verify(r.Header, body); err != nil {
			a.opt.RefusalLog.Warn(a.log, Platform, "refused a slack request", "endpoint", name, "remote", r.RemoteAddr, "reason", err.Error())
			http.Error(w, "invalid request signature", http.StatusUnauthorized)
			return
		}
		serve(w, r, body)
	})
}

// The handlers below dispatch under a context that does not end with the
// connection: Slack may hang up as soon as it has its 200, and whether a
// request runs must not depend on that. dispatch bounds its own wait.

func (a *Adapter) serveCommand(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		a.unreadable("commands", r, form.Get("command"), body, err)
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	if form.Get("ssl_check") != "" {
		w.WriteHeader(http.StatusOK) // Slack checking the certificate: nothing to run
		return
	}
	req, err := a.commandRequest(slashCommand{
		Command: form.Get("command"), Text: form.Get("text"), UserID: form.Get("user_id"), ChannelID: form.Get("channel_id"),
		ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"), TeamID: form.Get("team_id"),
	}, body)
	if err != nil {
		a.unreadable("commands", r, form.Get("command"), body, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ran, notice := a.dispatch(context.WithoutCancel(r.Context()), req)
	switch {
	case ran:
		writeEphemeral(w, noticeWorking)
	case notice != "":
		writeEphemeral(w, notice)
	default:
		w.WriteHeader(http.StatusOK) // a duplicate: the first delivery answers
	}
}

func (a *Adapter) serveInteraction(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		a.unreadable("interactions", r, "", body, err)
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	payload := []byte(form.Get("payload"))
	req, ok, err := interactionRequest(payload)
	if err != nil {
		a.unreadable("interactions", r, payloadType(payload), body, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ack(w)
	if !ok {
		return
	}
	if _, notice := a.dispatch(context.WithoutCancel(r.Context()), req); notice != "" {
		a.notify(req, notice)
	}
}

func (a *Adapter) serveEvent(w http.ResponseWriter, r *http.Request, body []byte) {
	challenge, req, ok, err := eventRequest(body, a.client.BotUser())
	switch {
	case err != nil:
		a.unreadable("events", r, payloadType(body), body, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case challenge != "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, challenge)
		return
	}
	// Slack retries an event it did not see acknowledged in 3 s; the
	// dedupe below drops the retry (X-Slack-Retry-Num) by its event_id.
	ack(w)
	if !ok {
		a.noteRateLimited(body)
		return
	}
	if _, notice := a.dispatch(context.WithoutCancel(r.Context()), req); notice != "" {
		a.notify(req, notice)
	}
}

// maxUnreadableText bounds what unreadable logs of a request's own text.
const maxUnreadableText = 200

// unreadable logs a signed request refused as one the adapter cannot
// read: Slack sent it, so a change of Slack's payloads shows here first,
// and a request answered 400 without a word left the operator to guess
// why a command or click did nothing. The line names the endpoint, the
// payload's type (the slash command, or the JSON's "type"), the body's
// size and the error, each bounded; never the body, which holds the
// legacy verification token and a response_url. Lines are bounded as
// refusals are, apart from them, so that forged requests cannot hide
// these.
func (a *Adapter) unreadable(endpoint string, r *http.Request, typ string, body []byte, err error) {
	a.opt.RefusalLog.Warn(a.log, Platform+"-unreadable", "could not read a signed slack request",
		"endpoint", endpoint, "remote", r.RemoteAddr, "type", clip(typ, 60), "bytes", len(body), "reason", clip(err.Error(), maxUnreadableText))
}

// payloadType is the "type" of a JSON payload, and its event's after a
// slash ("event_callback/app_mention"); "" when it has none, or is not
// JSON.
func payloadType(payload []byte) string {
	var p struct {
		Type  string `json:"type"`
		Event struct {
			Type string `json:"type"`
		} `json:"event"`
	}
	// A field of another type leaves the others read; text that is not
	// JSON leaves them all empty.
	_ = json.Unmarshal(payload, &p)
	if p.Event.Type != "" {
		return p.Type + "/" + p.Event.Type
	}
	return p.Type
}

// ack answers 200 at once: what follows is answered through the Web API.
// The empty body's length is stated, so that the answer is whole once
// flushed; otherwise it would be chunked, and end only when the handler
// returns, after a notice that may wait on the Web API for many seconds.
func ack(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	// A writer that cannot flush sends the answer when the handler returns.
	_ = http.NewResponseController(w).Flush()
}

// ephemeralBody is an immediate answer to a slash command, shown to the
// requester only.
type ephemeralBody struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func writeEphemeral(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ephemeralBody{ResponseType: "ephemeral", Text: text})
}
