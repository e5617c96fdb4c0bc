package discord

import (
	"context"
	"errors"
	"fmt"

	"github.com/bwmarrin/discordgo"
)

// RunGateway receives interactions over Discord's gateway instead of the
// HTTP endpoint (for a bot that cannot be reached from the internet), until
// ctx ends. Interactions go through the same dispatch as ServeHTTP; the
// first response is sent with POST interactions/{id}/{token}/callback. It
// needs the bot token, and returns an error if the connection cannot be
// opened; discordgo reconnects by itself afterwards.
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
				c.notRun(rctx, reasonUnanswered, noticeUnanswered)
			}
		case c != nil:
			c.run(a.base)
		}
	})
	defer remove()
	if err := a.s.Open(); err != nil {
		return fmt.Errorf("open discord gateway: %s", a.scrub(err))
	}
	a.log.Info("discord gateway connected")
	<-ctx.Done()
	if err := a.s.Close(); err != nil {
		a.log.Warn("close discord gateway", "err", a.scrub(err))
	}
	return nil
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
