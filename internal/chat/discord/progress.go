package discord

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/pause"
)

// ProgressView folds the events of one deploy into the one message that
// shows it. The adapter serialises the calls.
type ProgressView interface {
	Apply(ev deploy.Event)
	Message(now time.Time) chat.Message
	// Done reports whether the deploy has finished (Message is final).
	Done() bool
}

var _ ProgressView = (*commands.Progress)(nil)

// defaultProgress is the ProgressView when Options.NewProgress is nil.
func defaultProgress() ProgressView { return &commands.Progress{} }

// progressState is one deploy's progress message: the view and what the
// editor has to send. It is safe for concurrent use.
type progressState struct {
	mu      sync.Mutex
	view    ProgressView
	applied bool          // an event was applied
	run     runID         // of the events applied
	ack     *chat.Message // shown until the first event
	version uint64        // counts changes
	wake    chan struct{} // capacity 1: a change happened
}

func (p *progressState) apply(ev deploy.Event) {
	p.mu.Lock()
	p.view.Apply(ev)
	p.applied = true
	if ev.DeployID != "" {
		p.run = runID{id: ev.DeployID, app: or(ev.App, p.run.app), env: or(ev.Env, p.run.env)}
	}
	p.version++
	p.mu.Unlock()
	p.signal()
}

func (p *progressState) setAck(m *chat.Message) {
	p.mu.Lock()
	p.ack = m
	p.version++
	p.mu.Unlock()
	p.signal()
}

func (p *progressState) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// runID names the run a progress message shows.
type runID struct{ id, app, env string }

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func (p *progressState) runOf() runID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run
}

// snapshot returns the message to show now, its version and whether it is
// final.
func (p *progressState) snapshot(now time.Time) (chat.Message, uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.applied:
		return p.view.Message(now), p.version, p.view.Done()
	case p.ack != nil:
		m := *p.ack
		m.Public = true
		return m, p.version, false
	}
	return chat.Message{Level: chat.Info, Public: true, Title: "Starting…"}, p.version, false
}

// targetKind says which message shows the progress.
type targetKind int

const (
	targetOriginal targetKind = iota // the interaction's response
	targetFollowup                   // a follow-up of the interaction
	targetChannel                    // a channel message posted with the bot token
)

type target struct {
	kind    targetKind
	channel string
	id      string
}

// maxFinalAttempts bounds the tries to deliver the final state after
// errors other than 429.
const maxFinalAttempts = 5

// handoverNote ends the interaction's message when progress moves on.
const handoverNote = "Continued in a new message below: Discord lets a command's reply be edited for 15 minutes only."

// showProgress edits the progress message until the deploy is done: at
// most one edit per EditInterval, the latest state wins, a 429 waits
// retry_after and then sends whatever is latest, and the final state is
// retried until delivered (or maxFinalAttempts other errors). The replies
// in later follow up once the progress message is first shown (or could
// not be).
func (c *conversation) showProgress(ctx context.Context, p *progressState, later []chat.Message) {
	sendLater := func() {
		for _, m := range later {
			c.followup(ctx, m, !m.Public)
		}
		later = nil
	}
	defer sendLater()
	var (
		t        = target{kind: targetOriginal}
		sent     bool
		sentVer  uint64
		last     time.Time
		failures int
		// moveNow is set when the handover is due with no change to
		// show: the progress moves all the same.
		moveNow bool
		// envTried: the progress was posted in the env's channel, or
		// tried to be.
		envTried bool
	)
	// A deploy quiet across the handover (one waiting for its
	// migrations to be confirmed, whose wait lasts 15 minutes by
	// default) would otherwise move only at its next event, once the
	// token has expired: its reply would keep showing a stale state,
	// and buttons, with no word of where the progress went.
	// The wait is the adapter's Sleep, as the handover's due time is
	// its Now: a clock of the tests' own moves both.
	waits, stopWaits := context.WithCancel(ctx)
	defer stopWaits()
	var handover <-chan struct{}
	if c.canHandOver() {
		handover = c.after(waits, c.a.handover-c.a.now().Sub(c.started))
	}
	if !c.public {
		// The deferred response is the requester's alone, and progress is
		// for the channel.
		c.deleteOriginal(ctx)
		m, ver, _ := p.snapshot(c.a.now())
		id := c.followup(ctx, m, false)
		if id == "" {
			return
		}
		t = target{kind: targetFollowup, id: id}
		sent, sentVer, last = true, ver, time.Now()
		sendLater()
	}
	for {
		m, ver, done := p.snapshot(c.a.now())
		if !sent || ver != sentVer || (moveNow && t.kind != targetChannel) {
			// The env's channel is tried once, as soon as the run is
			// known.
			var env envTarget
			if !envTried {
				env, envTried = c.envRun(p)
			}
			err := c.sendProgress(ctx, &t, m, env)
			last = time.Now()
			if wait, limited := rateLimitWait(err); limited {
				c.log.Info("discord rate limit", "call", "edit progress", "retry_after", wait)
				if pause.For(ctx, wait) != nil {
					c.log.Warn("discord progress abandoned", "err", ctx.Err())
					return
				}
				continue
			}
			if err != nil {
				failures++
				c.log.Warn("discord edit progress failed", "err", c.scrub(err), "final", done)
				if done && failures >= maxFinalAttempts {
					// Neither the reply nor the channel takes it (the
					// token expired, the bot may not post there): a
					// direct message still reaches the requester.
					if derr := c.directMessage(ctx, m); derr != nil {
						c.log.Warn("discord could not send the final progress state as a direct message", "err", c.scrub(derr))
						c.undelivered(p, t, m, err)
					}
					return
				}
				// Not sent: tried again (with the newest state), not
				// left stale until the deploy's next event.
				if pause.For(ctx, time.Duration(min(failures, maxFinalAttempts))*c.a.interval) != nil {
					return
				}
				continue
			} else {
				failures = 0
			}
			sent, sentVer, moveNow = true, ver, false
			sendLater()
			if d, again := c.moveAgain(t, handover != nil); again {
				// The move failed (a 429, Discord down for a
				// moment) and the reply was edited instead: tried
				// again while the token lasts, not at the next
				// event, which may come once it has expired.
				handover = c.after(waits, d)
			}
		}
		if done {
			return
		}
		select {
		case <-p.wake:
		case <-handover:
			handover, moveNow = nil, true
		case <-ctx.Done():
			c.log.Warn("discord progress abandoned", "err", ctx.Err())
			return
		}
		if pause.For(ctx, c.a.interval-time.Since(last)) != nil {
			c.log.Warn("discord progress abandoned", "err", ctx.Err())
			return
		}
	}
}

// directNote ends a final report sent as a direct message.
const directNote = "Sent to you directly: neither the reply to your command nor its channel took this report."

// directMessage sends the final state m to the requester in a direct
// message with the bot token (POST /users/@me/channels, then the
// message), without buttons: they would act outside the channel the
// command came from. It returns an error when the requester is unknown,
// when Discord will not open the DM (the bot shares no server with them)
// or when the requester takes no direct messages from the bot.
func (c *conversation) directMessage(ctx context.Context, m chat.Message) error {
	user := interactionUser(c.in)
	if user == "" || c.a.token == "" {
		return errors.New("no requester to send a direct message to")
	}
	// Each call waits out Discord's 429s as every other call does: this
	// is the report's last way to its requester, and a passing rate
	// limit must not lose it.
	var dm *discordgo.Channel
	err := c.a.retry(ctx, func() error {
		var err error
		dm, err = c.a.s.UserChannelCreate(user, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return fmt.Errorf("open direct message: %w", err)
	}
	note := m
	note.Lines = append(append([]string(nil), m.Lines...), directNote)
	note.Buttons = nil
	r := render(note, c.a.cat)
	err = c.a.retry(ctx, func() error {
		_, err := c.a.s.ChannelMessageSendComplex(dm.ID, &discordgo.MessageSend{
			Embeds: r.Embeds, AllowedMentions: noMentions(),
		}, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return fmt.Errorf("send direct message: %w", err)
	}
	c.log.Info("discord final progress state sent as a direct message", "user", user, "channel", dm.ID)
	return nil
}

// after returns a channel closed once the adapter's Sleep has waited d,
// and never closed when ctx ends first.
func (c *conversation) after(ctx context.Context, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		if c.a.sleep(ctx, d) == nil {
			close(ch)
		}
	}()
	return ch
}

// undelivered reports a final state that reached nobody, last tried in
// t: at ERROR, with the report's title, and to the handler, whose status
// then shows it. The channel named is t's, where the report was refused
// (the env's, once the progress moved there), not the one the deploy was
// asked in, which the reason would then wrongly be about.
func (c *conversation) undelivered(p *progressState, t target, final chat.Message, err error) {
	run := p.runOf()
	reason := c.scrub(err)
	channel := c.in.ChannelID
	if t.kind == targetChannel {
		channel = t.channel
	}
	c.log.Error("discord final progress state not delivered", "deploy", run.id, "app", run.app, "env", run.env,
		"channel", channel, "outcome", final.Title, "err", reason)
	if run.id == "" {
		return
	}
	c.a.handler.NoteUndelivered(commands.Undelivered{DeployID: run.id, App: run.app, Env: run.env,
		Platform: Platform, Channel: channel, Reason: reason, At: c.a.now()})
}

// sendProgress shows m in *t. With env set (the env's channel, once the
// run is known), it first posts m there with the bot token and makes that
// the target, leaving the reply pointing to it; where the bot may not post
// there, the progress stays where it is. Once the interaction token nears
// its 15 minutes, it posts m as a message in the interaction's channel
// instead and makes that the target.
func (c *conversation) sendProgress(ctx context.Context, t *target, m chat.Message, env envTarget) error {
	if env.channel != "" && t.kind != targetChannel {
		// Tried once: a 429 is waited out (envPostWait at most), not
		// taken as the bot not being allowed to post there.
		err := c.moveTo(ctx, t, env.channel, m, pointerTo(env), time.Now().Add(envPostWait))
		if err == nil {
			return nil
		}
		c.log.Warn("discord could not post progress in the env's channel; it stays in the reply", "env_channel", env.channel, "err", c.scrub(err))
	}
	if t.kind == targetChannel || !c.canHandOver() || c.a.now().Sub(c.started) < c.a.handover {
		return c.edit(ctx, *t, m)
	}
	note := m
	note.Lines = append(append([]string(nil), m.Lines...), handoverNote)
	note.Buttons = nil
	// A 429 is not waited for: moveAgain tries the move again.
	err := c.moveTo(ctx, t, c.in.ChannelID, m, render(note, c.a.cat), time.Now())
	if err != nil {
		if c.a.now().Sub(c.started) < tokenLifetime {
			// The bot may not post in the channel (no access, a DM): the
			// interaction's own message still takes edits for now.
			c.log.Warn("discord could not move progress to a channel message", "err", c.scrub(err))
			return c.edit(ctx, *t, m)
		}
		return err
	}
	return nil
}

// envPostWait bounds how long the post of a deploy's progress in its
// env's channel waits out Discord's 429s, meanwhile shown nowhere.
const envPostWait = 10 * time.Second

// moveTo posts m as a message in channel with the bot token, makes it the
// target and replaces the message *t was with note. The post waits out
// 429s that end by by (retryBy).
func (c *conversation) moveTo(ctx context.Context, t *target, channel string, m chat.Message, note rendered, by time.Time) error {
	r := render(m, c.a.cat)
	var msg *discordgo.Message
	err := c.a.retryBy(ctx, by, func() error {
		var err error
		msg, err = c.a.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{
			Embeds: r.Embeds, Components: r.Components, AllowedMentions: noMentions(),
		}, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return fmt.Errorf("post channel message: %w", err)
	}
	old := *t
	*t = target{kind: targetChannel, channel: channel, id: msg.ID}
	c.log.Info("discord progress moved to a channel message", "channel", channel, "message", msg.ID)
	// Waits out a 429: a note not sent leaves the reply showing a stale
	// state, and its buttons, with no word of where the progress went.
	if err := c.a.retry(ctx, func() error { return c.editRendered(ctx, old, note) }); err != nil {
		c.log.Warn("discord edit of the reply left behind failed", "err", c.scrub(err))
	}
	return nil
}

// envTarget is the app and env of a deploy whose progress goes to their
// channel.
type envTarget struct{ app, env, channel string }

// pointerTo is what the reply says once the progress is in the env's
// channel: a link to the channel, which Discord renders from <#id>.
func pointerTo(r envTarget) rendered {
	note := render(chat.Message{Level: chat.Info, Title: r.app + "/" + r.env + ": progress and the final report are posted in the env's channel"}, nil)
	note.Embeds[0].Description = "<#" + r.channel + ">"
	return note
}

// envRun returns where the progress of the run p shows goes, when that is
// the channel of its env, a Discord channel other than the interaction's
// that the bot can post in with its token.
func (c *conversation) envRun(p *progressState) (envTarget, bool) {
	id := p.runOf()
	if id.app == "" || id.env == "" || c.a.token == "" {
		return envTarget{}, false
	}
	ch := c.a.envChannel(id.app, id.env)
	if ch == "" || strings.Trim(ch, "0123456789") != "" || ch == c.in.ChannelID {
		return envTarget{}, false
	}
	return envTarget{app: id.app, env: id.env, channel: ch}, true
}

// moveAgain reports whether the move of the progress to a channel
// message is due but did not happen (t is not the channel message yet),
// and how long to wait before trying again: the token must still take
// the edits meanwhile and the note afterwards. armed says a try is
// waited for already.
func (c *conversation) moveAgain(t target, armed bool) (time.Duration, bool) {
	if armed || t.kind == targetChannel || !c.canHandOver() {
		return 0, false
	}
	age := c.a.now().Sub(c.started)
	if age < c.a.handover {
		return 0, false
	}
	d := moveRetryEdits * c.a.interval
	if age+d >= tokenLifetime {
		return 0, false
	}
	return d, true
}

// moveRetryEdits is how many edit intervals apart the move of the
// progress to a channel message is tried once due.
const moveRetryEdits = 10

// canHandOver reports whether progress can move to a channel message:
// that takes the bot token and a channel.
func (c *conversation) canHandOver() bool {
	return c.a.token != "" && c.in.ChannelID != ""
}

// edit replaces the content of the message t with m.
func (c *conversation) edit(ctx context.Context, t target, m chat.Message) error {
	return c.editRendered(ctx, t, render(m, c.a.cat))
}

func (c *conversation) editRendered(ctx context.Context, t target, r rendered) error {
	var err error
	switch t.kind {
	case targetOriginal:
		err = c.editMessage(ctx, "@original", r.webhookEdit())
	case targetFollowup:
		err = c.editMessage(ctx, t.id, r.webhookEdit())
	case targetChannel:
		_, err = c.a.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
			ID: t.id, Channel: t.channel, Embeds: &r.Embeds, Components: &r.Components, AllowedMentions: noMentions(),
		}, discordgo.WithContext(ctx))
	}
	return err
}
