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
	remove := a.s.AddHandler(func(s *discordgo.Session, ic *discordgo.InteractionCreate) {
		if ic.Interaction == nil || a.isClosed() {
			return
		}
		in := ic.Interaction
		resp, run := a.dispatch(ctx, in)
		if resp == nil {
			return
		}
		err := a.retry(ctx, func() error {
			return s.InteractionRespond(in, resp, discordgo.WithContext(ctx))
		})
		if err != nil {
			a.log.Warn("discord interaction response failed", "interaction", in.ID, "err", a.scrub(err, in.Token))
			return
		}
		if run != nil && !a.goRun(run) {
			a.log.Warn("discord interaction dropped: shutting down", "interaction", in.ID)
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
