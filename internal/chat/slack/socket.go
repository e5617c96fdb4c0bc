package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode receives commands, clicks and events over Socket Mode (no
// public URL needed) until ctx is done. Every envelope is acknowledged and
// goes through the same dispatch as the HTTP endpoints, deduplicated by
// its envelope id and by its content. It returns nil when ctx ends, and
// an error when Slack refuses the connection for good (a bad app token).
func (a *Adapter) RunSocketMode(ctx context.Context) error {
	s := a.cfg.Slack
	if !s.SocketMode {
		return errors.New("slack: socket_mode is not enabled")
	}
	opts := []slack.Option{slack.OptionAppLevelToken(s.AppToken)}
	if a.opt.HTTPClient != nil {
		opts = append(opts, slack.OptionHTTPClient(a.opt.HTTPClient))
	}
	if s.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(s.APIURL))
	}
	sm := socketmode.New(slack.New(s.BotToken, opts...), socketmode.OptionLog(slogWriter{a.log}))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case <-ctx.Done():
			return nil
		case ev := <-sm.Events:
			switch ev.Type {
			case socketmode.EventTypeConnected:
				a.log.Info("slack socket mode connected")
			case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError:
				a.log.Warn("slack socket mode", "event", string(ev.Type))
			case socketmode.EventTypeErrorBadMessage:
				a.badEnvelope(ctx, sm, ev)
			case socketmode.EventTypeInvalidAuth:
				a.log.Error("slack socket mode: the app token was refused")
			case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
				if ev.Request == nil {
					continue
				}
				req := *ev.Request
				// Each envelope on its own goroutine: a slow dedupe check
				// must not delay the acknowledgement of the next one.
				wg.Go(func() { a.envelope(ctx, sm, req) })
			}
		}
	}
}

// envelope dispatches one Socket Mode envelope and acknowledges it.
func (a *Adapter) envelope(ctx context.Context, sm *socketmode.Client, env socketmode.Request) {
	var (
		req   request
		ok    bool
		err   error
		reply = false // a slash command's acknowledgement can carry a message
	)
	switch env.Type {
	case socketmode.RequestTypeSlashCommands:
		var sc slashCommand
		if err = json.Unmarshal(env.Payload, &sc); err == nil {
			req, err = a.commandRequest(sc, env.Payload)
			ok, reply = err == nil, true
		}
	case socketmode.RequestTypeInteractive:
		req, ok, err = interactionRequest(env.Payload)
	case socketmode.RequestTypeEventsAPI:
		_, req, ok, err = eventRequest(env.Payload)
	}
	if err != nil {
		a.log.Warn("slack socket mode: unreadable envelope", "type", env.Type, "err", err)
	}
	if !ok {
		a.ack(ctx, sm, env.EnvelopeID, nil)
		return
	}
	if env.EnvelopeID != "" {
		req.keys = append([]string{dedupeKeyPrefix + "envelope:" + env.EnvelopeID}, req.keys...)
	}
	// The dedupe check has its own bound; a shutdown must not turn it into
	// "store unreachable".
	ran, notice := a.dispatch(context.WithoutCancel(ctx), req)
	switch {
	case reply && ran:
		a.ack(ctx, sm, env.EnvelopeID, ephemeralBody{ResponseType: "ephemeral", Text: noticeWorking})
	case reply && notice != "":
		a.ack(ctx, sm, env.EnvelopeID, ephemeralBody{ResponseType: "ephemeral", Text: notice})
	default:
		a.ack(ctx, sm, env.EnvelopeID, nil)
		if notice != "" {
			a.notify(req, notice)
		}
	}
}

// badEnvelope acknowledges an envelope the Socket Mode client could not
// parse (a type it does not know, a payload it cannot decode), when it
// carries an envelope id: unacknowledged, Slack sends it again and again,
// and may turn off an event subscription that keeps failing. A slash
// command's acknowledgement tells its sender that nothing was run.
func (a *Adapter) badEnvelope(ctx context.Context, sm *socketmode.Client, ev socketmode.Event) {
	bad, _ := ev.Data.(*socketmode.ErrorBadMessage)
	if bad == nil {
		a.log.Warn("slack socket mode: unreadable message")
		return
	}
	var env struct {
		EnvelopeID string `json:"envelope_id"`
		Type       string `json:"type"`
	}
	_ = json.Unmarshal(bad.Message, &env) // no id: nothing to acknowledge
	a.log.Warn("slack socket mode: unreadable envelope", "envelope", env.EnvelopeID, "type", env.Type, "err", bad.Cause)
	var payload any
	if env.Type == string(socketmode.RequestTypeSlashCommands) {
		payload = ephemeralBody{ResponseType: "ephemeral", Text: "Switchman could not read this command; nothing was run."}
	}
	a.ack(ctx, sm, env.EnvelopeID, payload)
}

func (a *Adapter) ack(ctx context.Context, sm *socketmode.Client, envelopeID string, payload any) {
	if envelopeID == "" {
		return
	}
	if err := sm.AckCtx(ctx, envelopeID, payload); err != nil {
		a.log.Warn("slack socket mode: ack failed", "envelope", envelopeID, "err", err)
	}
}

// slogWriter passes the socketmode client's log lines to slog at debug
// level; the client redacts tokens from what it logs.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Output(_ int, s string) error {
	w.log.Debug(s, "component", "socketmode")
	return nil
}
