package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/pause"
)

// RunGateway receives interactions over Discord's gateway instead of the
// HTTP endpoint (for a bot that cannot be reached from the internet), until
// ctx ends. Interactions go through the same dispatch as ServeHTTP; the
// first response is sent with POST interactions/{id}/{token}/callback. It
// needs the bot token. A gateway it cannot reach is tried again, with a
// growing pause, until ctx ends: the rest of the bot runs meanwhile. It
// returns an error only when Discord refuses the bot for good (its token,
// say); discordgo reconnects by itself once connected.
func (a *Adapter) RunGateway(ctx context.Context) error {
	if a.token == "" {
		return errors.New("discord gateway: no bot token")
	}
	remove := a.s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		if ic.Interaction == nil {
			return
		}
		in := ic.Interaction
		// One that arrives as ctx ends (the bot is stopping) is answered
		// still: Discord shows "This interaction failed" otherwise. The
		// dedupe check has its own bound, the response the HTTP client's.
		rctx := context.WithoutCancel(ctx)
		// Shutdown, which follows the end of ctx, waits for the answer
		// and the command from here on, so that neither is dropped once
		// the other is under way; after it, the sender is told to retry.
		if !a.hold() {
			a.respond(rctx, in, a.refuseStopping(rctx, in))
			return
		}
		defer a.wg.Done()
		resp, c := a.dispatch(rctx, in)
		if resp == nil {
			return
		}
		switch {
		case !a.respond(rctx, in, resp):
			// Its sender sees "This interaction failed" and may well
			// try again: a command they were not told of does not run.
			if c != nil {
				c.notRun(rctx, reasonUnanswered, commands.RefusalUnavailable, noticeUnanswered)
			}
		case c != nil:
			c.run(a.base)
		}
	})
	defer remove()
	// A lost connection is opened again here rather than by discordgo,
	// whose loop knows no ctx: it would go on dialling (and, once Discord
	// answered, reconnect) after RunGateway returned.
	a.s.ShouldReconnectOnError = false
	lost := make(chan struct{}, 1)
	removeLost := a.s.AddHandler(func(*discordgo.Session, *discordgo.Disconnect) {
		select {
		case lost <- struct{}{}:
		default:
		}
	})
	defer removeLost()
	if err := a.openGateway(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	a.log.Info("discord gateway connected")
	for {
		select {
		case <-ctx.Done():
			if err := a.s.Close(); err != nil {
				a.log.Warn("close discord gateway", "err", a.scrub(err))
			}
			return nil
		case <-lost:
		}
		a.log.Warn("discord gateway: connection lost; connecting again")
		if !a.reopenGateway(ctx) {
			return nil
		}
		a.log.Info("discord gateway connected again")
	}
}

// reopenGateway opens the gateway connection again after it was lost,
// until it is open or ctx ends (then it reports false). Discord refusing
// the bot now, which it took before (its token revoked, say), is logged
// and tried again at the longest pause: the rest of the bot goes on.
func (a *Adapter) reopenGateway(ctx context.Context) bool {
	for {
		err := a.openGateway(ctx)
		switch {
		case err == nil:
			return true
		case ctx.Err() != nil:
			return false
		}
		a.log.Error("discord gateway: refused; trying again", "err", err, "in", gatewayRetryMax)
		if pause.For(ctx, gatewayRetryMax) != nil {
			return false
		}
	}
}

// Pauses between two tries to open the gateway.
const (
	gatewayRetryMin = time.Second
	gatewayRetryMax = time.Minute
)

// openGateway opens the gateway connection, trying again after a pause
// while the failure is one that may pass (Discord or the network down,
// a 5xx, a 429), until ctx ends. Discord refusing the token, or closing
// the connection with a code it documents as not to reconnect after, is
// returned at once.
func (a *Adapter) openGateway(ctx context.Context) error {
	wait := gatewayRetryMin
	for {
		err := a.s.Open()
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			return nil
		}
		if gatewayRefused(err) {
			return fmt.Errorf("open discord gateway: %s", a.scrub(err))
		}
		a.log.Warn("discord gateway: could not connect; trying again", "err", a.scrub(err), "in", wait)
		if pause.For(ctx, wait) != nil {
			return ctx.Err()
		}
		wait = min(2*wait, gatewayRetryMax)
	}
}

// gatewayRefused reports whether err says Discord will not take the bot
// however often it tries: the token refused (401) or a close code of
// the gateway's that allows no reconnect (authentication failed, invalid
// shard, sharding required, invalid API version, invalid or disallowed
// intents).
func gatewayRefused(err error) bool {
	if re, ok := errors.AsType[*discordgo.RESTError](err); ok && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized {
		return true
	}
	if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
		switch ce.Code {
		case 4004, 4010, 4011, 4012, 4013, 4014:
			return true
		}
	}
	return false
}

// Notices of commands not run.
const (
	// noticeRestarting answers an interaction that arrives after Shutdown.
	noticeRestarting = "Switchman is restarting, so nothing was run. Try again in a minute."
	// noticeUnanswered replaces the "thinking…" of a command whose
	// response failed to send, should Discord have taken it after all.
	noticeUnanswered = "Switchman's answer to Discord failed, so nothing was run. Try again."
)

// respond sends an interaction's response and reports whether it was.
func (a *Adapter) respond(ctx context.Context, in *discordgo.Interaction, resp *discordgo.InteractionResponse) bool {
	err := a.retry(ctx, func() error {
		return a.s.InteractionRespond(in, resp, discordgo.WithContext(ctx))
	})
	if err != nil {
		a.log.Warn("discord interaction response failed", "interaction", in.ID, "err", a.scrub(err, in.Token))
		return false
	}
	return true
}
