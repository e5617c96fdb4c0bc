package discord

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/switchman-bot/switchman/internal/commands"
)

// RunGateway receives interactions over Discord's gateway instead of the
// HTTP endpoint (for a bot that cannot be reached from the internet), until
// ctx ends. Interactions go through the same dispatch as ServeHTTP; the
// first response is sent with POST interactions/{id}/{token}/callback. It
// needs the bot token. A gateway it cannot reach is tried again, with a
// growing pause, until ctx ends: the rest of the bot runs meanwhile. It
// returns an error only when Discord refuses the bot for good (its token,
// say); a connection lost once open is opened again here, with the same
// pauses. It may be run again once it has returned.
func (a *Adapter) RunGateway(ctx context.Context) error {
	if a.token == "" {
		return errors.New("discord gateway: no bot token")
	}
	remove := a.s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		if ic.Interaction == nil {
			return
		}
		in := ic.Interaction
		// Discord takes the first answer within initialResponseWindow
		// of sending the interaction, which is no later than now.
		answerBy := time.Now().Add(initialResponseWindow)
		// One that arrives as ctx ends (the bot is stopping) is answered
		// still: Discord shows "This interaction failed" otherwise. The
		// dedupe check has its own bound, the response the HTTP client's.
		rctx := context.WithoutCancel(ctx)
		// Shutdown, which follows the end of ctx, waits for the answer
		// and the command from here on, so that neither is dropped once
		// the other is under way; after it, the sender is told to retry.
		if !a.hold() {
			a.refuseStoppingOnGateway(rctx, in, answerBy)
			return
		}
		defer a.wg.Done()
		resp, c := a.dispatch(rctx, in, true)
		if resp == nil || resp == alreadyHandled {
			// A duplicate, or one whose duplicate check failed: Discord
			// hands an interaction to every gateway connection of the
			// bot, one per replica, and the replica that took it first
			// answers it. An answer from another ("This was already
			// handled") could reach Discord first and take the place of
			// the command's own, and the command would then not run.
			return
		}
		switch {
		case !a.respond(rctx, in, resp, answerBy):
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
	// discordgo may report one loss twice: its heartbeat, writing to the
	// connection its reader has closed already, closes the session again,
	// which emits a second Disconnect, often while the connection is
	// reopened here. Each Disconnect is therefore counted against the
	// connection of its time (conn, from 1, counted as its opening
	// starts, so that no loss of it is counted against the one before),
	// and one of a connection already reopened is not a new loss. The
	// handler is registered anew for each connection, with its number:
	// discordgo picks the handlers as it emits the event and runs them
	// in goroutines of their own, so one handled late, once the next
	// connection is opening, still counts against the connection of the
	// time it was emitted. One emitted once the opening has begun, by a
	// close that found no connection to close, is numbered the new
	// connection's; the connection it is counted against must have been
	// closed too (see gatewayOpen.closed), or it is no loss.
	var (
		conn     uint64
		lostConn atomic.Uint64
	)
	lost := make(chan struct{}, 1)
	removeLost := func() {}
	watch := func() {
		removeLost()
		conn++
		n := conn
		removeLost = a.s.AddHandler(func(*discordgo.Session, *discordgo.Disconnect) {
			for {
				// The largest wins: a late Disconnect of an older
				// connection does not hide the loss of the newer one.
				seen := lostConn.Load()
				if n <= seen || lostConn.CompareAndSwap(seen, n) {
					break
				}
			}
			select {
			case lost <- struct{}{}:
			default:
			}
		})
	}
	defer func() { removeLost() }()
	var backoff gatewayBackoff
	watch()
	up, err := a.openGateway(ctx, &backoff)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	a.log.Info("discord gateway connected")
	// Whichever way the loop ends, the connection is closed: ctx may end
	// during the pause after a loss that was none (a late Disconnect of
	// the connection before), with the connection up, and its heartbeat
	// and reader would run on after RunGateway returned.
	defer a.closeGateway()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-lost:
		}
		if lostConn.Load() < conn {
			a.log.Debug("discord gateway: disconnect of a connection already reopened; ignored")
			continue
		}
		if !a.gw.closed() {
			// A report made once this connection's opening had begun,
			// by the heartbeat of the one before closing the session
			// again with no connection in it, is numbered this one's.
			// It closed nothing: this connection is up.
			a.log.Debug("discord gateway: disconnect of no open connection; ignored")
			continue
		}
		// A gateway that takes the connection and drops it at once
		// would otherwise be dialled again at once, over and over: only
		// a connection that stayed up starts the pauses over.
		if a.now().Sub(up) >= gatewayStable {
			backoff.reset()
		}
		wait := backoff.next()
		a.log.Warn("discord gateway: connection lost; connecting again", "in", wait)
		if a.sleep(ctx, wait) != nil {
			return nil
		}
		watch()
		if up, err = a.reopenGateway(ctx, &backoff); err != nil {
			return nil
		}
		a.log.Info("discord gateway connected again")
	}
}

// closeGateway closes the gateway connection, if it is open, and stops
// its heartbeat and reader. Closing one closed already does nothing.
func (a *Adapter) closeGateway() {
	if err := a.s.Close(); err != nil {
		a.log.Warn("close discord gateway", "err", a.scrub(err))
	}
}

// refuseStoppingOnGateway answers "restarting" to an interaction that
// arrived once Shutdown had begun, if this replica takes it in the
// duplicate check, and otherwise sends nothing: another replica took it,
// and during a rolling restart an answer from this one could reach
// Discord before the answer of the replica that runs the command, whose
// response Discord would then refuse, and the command would not run. A
// check that fails (the store unreachable) sends nothing either, for the
// same reason: a replica that reaches the store answers, and if none
// does, the sender sees "The application did not respond" with nothing
// run, which is better than a command run by another replica and lost.
func (a *Adapter) refuseStoppingOnGateway(ctx context.Context, in *discordgo.Interaction, answerBy time.Time) {
	if !carriesCommand(in) {
		return
	}
	log := a.log.With("interaction", in.ID, "channel", in.ChannelID)
	first, err := a.claim(ctx, in)
	switch {
	case err != nil:
		log.Error("discord interaction left unanswered: stopping, and its duplicate check failed; a replica that reaches the state store answers it", "err", err)
		return
	case !first:
		log.Info("duplicate discord interaction ignored while stopping")
		return
	}
	a.respond(ctx, in, a.refuseStopping(ctx, in), answerBy)
}

// reopenGateway opens the gateway connection again after it was lost,
// until it is open, and returns when the try that opened it began, or
// until ctx ends: then it returns ctx's error. Discord refusing
// the bot now, which it took before (its token revoked, say), is logged
// and tried again at the longest pause: the rest of the bot goes on.
func (a *Adapter) reopenGateway(ctx context.Context, b *gatewayBackoff) (time.Time, error) {
	for {
		up, err := a.openGateway(ctx, b)
		switch {
		case err == nil:
			return up, nil
		case ctx.Err() != nil:
			return time.Time{}, ctx.Err()
		}
		a.log.Error("discord gateway: refused; trying again", "err", err, "in", gatewayRetryMax)
		if err := a.sleep(ctx, gatewayRetryMax); err != nil {
			return time.Time{}, err
		}
	}
}

// Pauses between two tries to open the gateway, and how long a
// connection must have stayed up for the pauses to start over.
const (
	gatewayRetryMin = time.Second
	gatewayRetryMax = time.Minute
	gatewayStable   = time.Minute
)

// gatewayBackoff is the pause before the next try to open the gateway:
// it doubles from gatewayRetryMin up to gatewayRetryMax, and each pause
// is drawn from its upper half, so that bots that lost Discord together
// do not all come back at the same instant. The zero value starts at
// gatewayRetryMin. It is not safe for concurrent use.
type gatewayBackoff struct {
	ceiling time.Duration
}

func (b *gatewayBackoff) next() time.Duration {
	b.ceiling = min(max(2*b.ceiling, gatewayRetryMin), gatewayRetryMax)
	half := b.ceiling / 2
	return half + rand.N(half+1)
}

func (b *gatewayBackoff) reset() { b.ceiling = 0 }

// openGateway opens the gateway connection, trying again after a pause
// while the failure is one that may pass (Discord or the network down,
// a 5xx, a 429, a gateway silent for gatewayOpenTimeout), until ctx
// ends. Discord refusing the token, or closing the connection with a
// code it documents as not to reconnect after, is returned at once. It returns when the try that opened the connection
// began: the connection is up since then at most.
func (a *Adapter) openGateway(ctx context.Context, b *gatewayBackoff) (time.Time, error) {
	for {
		began := a.now()
		err := a.gw.try(ctx, a.s.Open)
		if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			return began, nil
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		if gatewayRefused(err) {
			return time.Time{}, fmt.Errorf("open discord gateway: %s", a.scrub(err))
		}
		wait := b.next()
		a.log.Warn("discord gateway: could not connect; trying again", "err", a.scrub(err), "in", wait)
		if err := a.sleep(ctx, wait); err != nil {
			return time.Time{}, err
		}
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

// initialResponseWindow is how long Discord waits for the first answer
// to an interaction; after it, the interaction has failed for its sender
// and the callback is refused.
const initialResponseWindow = 3 * time.Second

// respond sends an interaction's response and reports whether it was.
// The call is given up at by, the end of Discord's window for the
// answer: one sent later is refused, and the sender has been shown "This
// interaction failed" already (the caller then tells them, should
// Discord have taken it after all, that nothing was run). A 429 is
// waited out only while the answer can still be in time.
func (a *Adapter) respond(ctx context.Context, in *discordgo.Interaction, resp *discordgo.InteractionResponse, by time.Time) bool {
	ctx, cancel := context.WithDeadline(ctx, by)
	defer cancel()
	err := a.retryBy(ctx, by, func() error {
		return a.s.InteractionRespond(in, resp, discordgo.WithContext(ctx))
	})
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		a.log.Warn("discord interaction response not sent within Discord's window for it; given up, as Discord refuses a later one",
			"interaction", in.ID, "window", initialResponseWindow, "answer_by", by, "err", a.scrub(err, in.Token))
		return false
	}
	if err != nil {
		a.log.Warn("discord interaction response failed", "interaction", in.ID, "err", a.scrub(err, in.Token))
		return false
	}
	return true
}
