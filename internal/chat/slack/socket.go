package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode receives commands, clicks and events over Socket Mode (no
// public URL needed) until ctx is done. Every envelope is acknowledged and
// goes through the same dispatch as the HTTP endpoints, deduplicated by
// its envelope id and by its content. It returns nil when ctx ends, and
// an error when Slack refuses the connection for good (a bad app token).
//
// When ctx ends, no envelope the bot has received is dropped: those under
// way are answered as usual, and the others are refused as at any stop
// (audited, their senders told that nothing was run). The socket stays
// open until they are acknowledged; one received as it closes is refused
// all the same, without an acknowledgement, and its dedupe keys are
// recorded so that Slack's retry of it is dropped.
func (a *Adapter) RunSocketMode(ctx context.Context) error {
	s := a.cfg.Slack
	if !s.SocketMode {
		return errors.New("slack: socket_mode is not enabled")
	}
	// The adapter's client, whose timeout bounds apps.connections.open:
	// slack-go's own has none, and asks again only once the call fails,
	// so one that never answered (a proxy that took the connection and
	// hung) left the bot without a socket for good, and without a word.
	opts := []slack.Option{slack.OptionAppLevelToken(s.AppToken), slack.OptionHTTPClient(a.opt.HTTPClient)}
	if s.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(s.APIURL))
	}
	sm := socketmode.New(slack.New(s.BotToken, opts...), socketmode.OptionLog(slogWriter{a.log}))

	// The socket outlives ctx, for the acknowledgements of what it
	// received before.
	sctx, closeSocket := context.WithCancel(context.WithoutCancel(ctx))
	defer closeSocket()
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(sctx) }()
	var envelopes, notices sync.WaitGroup
	defer notices.Wait()
	for {
		select {
		case err := <-errc:
			closeSocket()
			envelopes.Wait()
			a.refuseLeft(sctx, sm.Events, &notices)
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", hide(err))
		case <-ctx.Done():
			envelopes.Wait()
			a.linger(sctx, sm, &notices)
			closeSocket()
			<-errc
			a.refuseLeft(sctx, sm.Events, &notices)
			return nil
		case ev := <-sm.Events:
			a.event(sctx, sm, ev, ctx.Err() != nil, &envelopes, &notices)
		}
	}
}

// How long the socket stays open once the bot is stopping: until no
// envelope has arrived for socketLinger, at most maxLinger. The client
// cannot say when it has written an acknowledgement, so the last one gets
// socketLinger; and Slack sends to the socket until it closes, so what
// arrives meanwhile is refused and acknowledged too.
const (
	socketLinger = 250 * time.Millisecond
	maxLinger    = 2 * time.Second
)

// ackTimeout bounds queueing one acknowledgement, which waits only when
// the client is not sending them (its socket broke).
const ackTimeout = 3 * time.Second

// event handles one event of the Socket Mode client. An envelope is
// dispatched on a goroutine of envelopes, or refused at once when the bot
// is stopping; notices to senders go on goroutines of notices.
func (a *Adapter) event(ctx context.Context, sm *socketmode.Client, ev socketmode.Event, stopping bool, envelopes, notices *sync.WaitGroup) {
	switch ev.Type {
	case socketmode.EventTypeConnected:
		a.log.Info("slack socket mode connected")
	case socketmode.EventTypeConnecting, socketmode.EventTypeHello:
		a.connecting(ctx, sm, ev)
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError:
		a.socketError(ctx, ev)
	case socketmode.EventTypeErrorBadMessage:
		a.badEnvelope(ctx, sm, ev)
	case socketmode.EventTypeErrorWriteFailed:
		a.ackFailed(ctx, ev)
	case socketmode.EventTypeInvalidAuth:
		a.log.Error("slack socket mode: the app token was refused")
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
		if ev.Request == nil {
			a.unhandled(ctx, sm, ev)
			return
		}
		env := *ev.Request
		if stopping {
			a.refuseEnvelope(ctx, sm, env, notices)
			return
		}
		// Each envelope on its own goroutine: a slow dedupe check must
		// not delay the acknowledgement of the next one.
		envelopes.Go(func() { a.envelope(ctx, sm, env, notices) })
	default:
		a.unhandled(ctx, sm, ev)
	}
}

// connecting logs the client's steps of connecting at debug level: each
// is followed by "connected" or by an error, which are logged as such.
// Slack's hello has no envelope id; one that has is an envelope like any
// other the bot does not handle.
func (a *Adapter) connecting(ctx context.Context, sm *socketmode.Client, ev socketmode.Event) {
	if env := ev.Request; env != nil && env.EnvelopeID != "" {
		a.unhandled(ctx, sm, ev)
		return
	}
	args := []any{"event", string(ev.Type)}
	if ce, ok := ev.Data.(*slack.ConnectingEvent); ok && ce != nil {
		args = append(args, "attempt", ce.Attempt)
	}
	if env := ev.Request; env != nil {
		args = append(args, "connections", env.NumConnections, "host", env.DebugInfo.Host)
	}
	a.log.DebugContext(ctx, "slack socket mode: connecting", args...)
}

// unhandled logs an event the bot has nothing to do with (of a type a
// newer client brings, an envelope without the request it should carry)
// with its type and envelope id, not its payload, which holds what users
// wrote and the response URLs that let anyone reply as the bot. An
// envelope with an id is acknowledged: Slack would otherwise send it
// again and again, and may turn off a subscription that keeps failing.
func (a *Adapter) unhandled(ctx context.Context, sm *socketmode.Client, ev socketmode.Event) {
	args := []any{"event", string(ev.Type)}
	env := ev.Request
	if env == nil {
		a.log.WarnContext(ctx, "slack socket mode: an event the bot does not handle, with no envelope; dropped", args...)
		return
	}
	args = append(args, "envelope", env.EnvelopeID, "type", env.Type)
	if env.RetryAttempt > 0 {
		args = append(args, "retry_attempt", env.RetryAttempt, "retry_reason", env.RetryReason)
	}
	if env.EnvelopeID == "" {
		a.log.WarnContext(ctx, "slack socket mode: an envelope the bot does not handle, with no id to acknowledge; dropped", args...)
		return
	}
	a.log.WarnContext(ctx, "slack socket mode: an envelope the bot does not handle; acknowledged, nothing run", args...)
	a.ack(ctx, sm, env.EnvelopeID, nil)
}

// socketError logs a failed connection attempt or read with its cause.
// ctx ends when the bot closes the socket: the read that fails then, and
// the reconnection it cuts short, are the close, not trouble.
func (a *Adapter) socketError(ctx context.Context, ev socketmode.Event) {
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelDebug
	}
	switch ev.Type {
	case socketmode.EventTypeConnectionError:
		// The client tries again by itself, for ever: the cause is all
		// an operator has to tell a proxy in the way, or an app token
		// without connections:write, from Slack being down.
		args := []any{"event", string(ev.Type)}
		if ce, ok := ev.Data.(*slack.ConnectionErrorEvent); ok && ce != nil {
			args = append(args, "attempt", ce.Attempt, "retry_in", ce.Backoff)
			if ce.ErrorObj != nil {
				args = append(args, "err", redact(ce.ErrorObj))
			}
		}
		a.log.Log(ctx, level, "slack socket mode: cannot connect; trying again", args...)
	case socketmode.EventTypeIncomingError:
		args := []any{"event", string(ev.Type)}
		if ie, ok := ev.Data.(*slack.IncomingEventError); ok && ie != nil && ie.ErrorObj != nil {
			args = append(args, "err", redact(ie.ErrorObj))
		}
		a.log.Log(ctx, level, "slack socket mode: reading from the socket failed", args...)
	}
}

// ackFailed logs an acknowledgement the client could not write (its
// socket broke as it wrote it). Slack then sends the envelope again (an
// event, a click) or tells a slash command's sender that it timed out,
// and the command's reply, carried by the acknowledgement, is lost: a
// reply that never came must be explained somewhere. The reply's text is
// not logged.
func (a *Adapter) ackFailed(ctx context.Context, ev socketmode.Event) {
	args := []any{"event", string(ev.Type)}
	if wf, ok := ev.Data.(*socketmode.ErrorWriteFailed); ok && wf != nil {
		if wf.Response != nil {
			args = append(args, "envelope", wf.Response.EnvelopeID, "reply", wf.Response.Payload != nil)
		}
		if wf.Cause != nil {
			args = append(args, "err", redact(wf.Cause))
		}
	}
	a.log.Log(ctx, slog.LevelWarn, "slack socket mode: an acknowledgement could not be written; Slack may send the envelope again, or tell a slash command's sender that it failed, without its reply", args...)
}

// linger refuses, as the bot is stopping, the envelopes that arrive
// until the socket closes (see socketLinger).
func (a *Adapter) linger(ctx context.Context, sm *socketmode.Client, notices *sync.WaitGroup) {
	quiet := time.NewTimer(socketLinger)
	defer quiet.Stop()
	limit := time.NewTimer(maxLinger)
	defer limit.Stop()
	for {
		select {
		case ev := <-sm.Events:
			a.event(ctx, sm, ev, true, nil, notices)
			quiet.Reset(socketLinger)
		case <-quiet.C:
			return
		case <-limit.C:
			return
		}
	}
}

// refuseLeft refuses the envelopes the client received as its socket
// closed: they can no longer be acknowledged, but are audited, and their
// senders told.
func (a *Adapter) refuseLeft(ctx context.Context, events <-chan socketmode.Event, notices *sync.WaitGroup) {
	for {
		select {
		case ev := <-events:
			a.event(ctx, nil, ev, true, nil, notices)
		default:
			return
		}
	}
}

// envelopeRequest reads the request an envelope carries; ok is false for
// one that carries none (an event the bot ignores) or that cannot be read
// (err says why). reply: the acknowledgement can carry a message (a slash
// command).
func (a *Adapter) envelopeRequest(env socketmode.Request) (req request, ok, reply bool, err error) {
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
		_, req, ok, err = eventRequest(env.Payload, a.client.BotUser())
		if !ok && err == nil {
			a.noteRateLimited(env.Payload)
		}
	}
	if ok && env.EnvelopeID != "" {
		req.keys = append([]string{dedupeKeyPrefix + "envelope:" + env.EnvelopeID}, req.keys...)
	}
	return req, ok, reply, err
}

// unreadReply is the acknowledgement of a slash command the bot could not
// read: without it, its sender sees the command do nothing.
var unreadReply = ephemeralBody{ResponseType: "ephemeral", Text: "Switchman could not read this command; nothing was run."}

// skip acknowledges an envelope that carries no request (an event the bot
// ignores), or one the bot could not read (err), which is logged, a slash
// command's acknowledgement telling its sender that nothing was run.
func (a *Adapter) skip(ctx context.Context, sm *socketmode.Client, env socketmode.Request, err error) {
	var payload any
	if err != nil {
		a.log.Warn("slack socket mode: unreadable envelope", "envelope", env.EnvelopeID, "type", env.Type, "err", err)
		if env.Type == socketmode.RequestTypeSlashCommands {
			payload = unreadReply
		}
	}
	a.ack(ctx, sm, env.EnvelopeID, payload)
}

// envelope dispatches one Socket Mode envelope and acknowledges it.
func (a *Adapter) envelope(ctx context.Context, sm *socketmode.Client, env socketmode.Request, notices *sync.WaitGroup) {
	req, ok, reply, err := a.envelopeRequest(env)
	if !ok {
		a.skip(ctx, sm, env, err)
		return
	}
	// The dedupe check has its own bound; the socket closing must not turn
	// it into "store unreachable".
	ran, notice := a.dispatch(context.WithoutCancel(ctx), req)
	a.answer(ctx, sm, env.EnvelopeID, req, reply, ran, notice, notices)
}

// refuseEnvelope refuses an envelope that reached the bot as it stopped,
// as dispatch refuses one once Stop was called; sm is nil when the socket
// is gone, and the sender is then told through the Web API alone.
func (a *Adapter) refuseEnvelope(ctx context.Context, sm *socketmode.Client, env socketmode.Request, notices *sync.WaitGroup) {
	req, ok, reply, err := a.envelopeRequest(env)
	if !ok {
		a.skip(ctx, sm, env, err)
		return
	}
	if sm == nil {
		reply = false
	}
	_, notice := a.refuseStopping(context.WithoutCancel(ctx), req)
	if notice != "" {
		a.log.Info("slack request refused: the bot is stopping", "kind", req.kind, "user", req.userID, "acknowledged", sm != nil)
	}
	a.answer(ctx, sm, env.EnvelopeID, req, reply, false, notice, notices)
}

// answer acknowledges an envelope: a slash command's acknowledgement says
// what became of it; the sender of anything else that did not run is
// told ephemerally, in the background.
func (a *Adapter) answer(ctx context.Context, sm *socketmode.Client, envelopeID string, req request, reply, ran bool, notice string, notices *sync.WaitGroup) {
	switch {
	case reply && ran:
		a.ack(ctx, sm, envelopeID, ephemeralBody{ResponseType: "ephemeral", Text: noticeWorking})
	case reply && notice != "":
		a.ack(ctx, sm, envelopeID, ephemeralBody{ResponseType: "ephemeral", Text: notice})
	default:
		a.ack(ctx, sm, envelopeID, nil)
		if notice != "" {
			notices.Go(func() { a.notify(req, notice) })
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
		payload = unreadReply
	}
	a.ack(ctx, sm, env.EnvelopeID, payload)
}

// ack acknowledges an envelope; sm is nil when the socket is gone.
func (a *Adapter) ack(ctx context.Context, sm *socketmode.Client, envelopeID string, payload any) {
	if envelopeID == "" {
		return
	}
	if sm == nil {
		a.log.Warn("slack socket mode: received as the socket closed; not acknowledged", "envelope", envelopeID)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := sm.AckCtx(ctx, envelopeID, payload); err != nil {
		a.log.Warn("slack socket mode: ack failed", "envelope", envelopeID, "err", redact(err))
	}
}

// slogWriter passes the socketmode client's log lines to slog at debug
// level; the client redacts tokens from what it logs, not the URLs it
// quotes (the API URL, the WebSocket URL with its ticket).
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Output(_ int, s string) error {
	w.log.Debug(redactText(s), "component", "socketmode")
	return nil
}
