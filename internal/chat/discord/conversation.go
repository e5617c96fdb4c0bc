package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/refusals"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

var _ commands.Output = (*conversation)(nil)

// conversation is one interaction after its deferred response: it runs the
// command and turns the answers into edits and follow-ups of that
// response. It is the command's commands.Output and safe for concurrent
// use.
type conversation struct {
	a   *Adapter
	in  *discordgo.Interaction // AppID is the configured application's
	req commands.Request
	// public: the deferred response is visible to the channel. Otherwise
	// only the requester sees it.
	public  bool
	started time.Time // when the interaction arrived: its token lasts 15 minutes
	log     *slog.Logger

	mu      sync.Mutex // guards the fields below
	handled bool       // Handle has returned
	replies []chat.Message
	prog    *progressState
}

// Reply collects a reply while the command runs; a reply after that is a
// follow-up message of its own.
func (c *conversation) Reply(m chat.Message) {
	c.mu.Lock()
	if !c.handled {
		c.replies = append(c.replies, m)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if !c.a.goRun(func(ctx context.Context) { c.followup(ctx, m, !m.Public) }) {
		c.dropped(m)
	}
}

// dropped logs and audits m, a reply that came once Shutdown had begun
// (a command that outlived it): nothing sends it any more. As a refusal
// written then (see refusals.Writer), it is logged first, with whose
// command it answered and what it said: the bot closes the store next,
// and the process may end before the audit write, or its failure, is
// done; the log alone keeps it then.
func (c *conversation) dropped(m chat.Message) {
	// c.log names the interaction, the user, the channel and the command.
	c.log.Warn("discord reply dropped as the bot stops; its audit write may not finish",
		"platform", c.req.Platform, "title", m.Title, "reason", reasonReplyDropped)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), refusals.Timeout)
		defer cancel()
		if err := c.a.handler.AuditDroppedReply(ctx, c.req, m.Title, reasonReplyDropped); err != nil {
			c.log.Error("audit a dropped discord reply", "title", m.Title, "err", err)
		}
	}()
}

// Progress folds a deploy event into the progress message.
func (c *conversation) Progress(ev deploy.Event) {
	c.mu.Lock()
	p := c.progressLocked()
	c.mu.Unlock()
	p.apply(ev)
}

func (c *conversation) progressLocked() *progressState {
	if c.prog == nil {
		c.prog = &progressState{view: c.a.newProgress(), wake: make(chan struct{}, 1)}
	}
	return c.prog
}

// run runs the command and delivers its answers; ctx is the adapter's,
// which Shutdown ends when it gives up waiting.
func (c *conversation) run(ctx context.Context) {
	if ctx.Err() != nil {
		c.notRun(ctx, reasonStopping, commands.RefusalDraining, noticeRestarting)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("discord command panicked", "panic", fmt.Sprint(r))
			c.editOriginal(ctx, chat.Message{Level: chat.Failure, Title: "Switchman failed while running this command; see its logs."})
		}
	}()
	res := c.a.handler.Handle(ctx, c.req, c)
	c.mu.Lock()
	c.handled = true
	replies := c.replies
	c.replies = nil
	p := c.prog
	if p == nil && res.DeployID != "" {
		p = c.progressLocked()
	}
	c.mu.Unlock()
	c.log.Info("discord command handled", "failed", res.Failed, "deploy", res.DeployID)
	if p == nil {
		c.deliver(ctx, replies)
		return
	}
	// The first reply that is not a failure ("Deploying … (deploy ID)")
	// shows in the progress message until the first event; any other
	// reply goes to the requester alone, once the progress message is
	// shown: a follow-up sent while the deferred response still says
	// "thinking…" takes its place instead (and its visibility), and the
	// progress would then replace it.
	var ack *chat.Message
	var others []chat.Message
	for i := range replies {
		if ack == nil && replies[i].Level != chat.Failure {
			ack = &replies[i]
			continue
		}
		others = append(others, replies[i])
	}
	p.setAck(ack)
	c.showProgress(ctx, p, others)
}

// notRunTimeout bounds telling the sender of a command that it was not
// run.
const notRunTimeout = 10 * time.Second

// notRun is what becomes of a command that does not run after all: one
// Shutdown stopped waiting for before it began (ctx has ended, as would
// every call it makes), or one whose deferred response failed to send. It
// is audited as refused for reason (counted under why), and its sender is told notice in place
// of the "thinking…", which Discord would otherwise show for the 15
// minutes the token lasts.
func (c *conversation) notRun(ctx context.Context, reason string, why commands.Refusal, notice string) {
	req := c.req
	req.Refused, req.RefusedFor = reason, why
	c.a.auditRefusal(ctx, req)
	c.log.Warn("discord command not run", "reason", reason)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notRunTimeout)
	defer cancel()
	c.deliver(ctx, []chat.Message{{Level: chat.Failure, Title: notice}})
}

// deliver shows the replies of a command that started no deploy: the first
// edits the deferred response, unless that is public and the reply is not
// (a refusal), which then goes to the requester alone.
func (c *conversation) deliver(ctx context.Context, replies []chat.Message) {
	if len(replies) == 0 {
		c.deleteOriginal(ctx)
		return
	}
	first := replies[0]
	if c.public && !first.Public {
		c.deleteOriginal(ctx)
		c.followup(ctx, first, true)
	} else {
		c.editOriginal(ctx, first)
	}
	for _, m := range replies[1:] {
		c.followup(ctx, m, !m.Public)
	}
}

// maxRateLimited bounds how often one call is retried after a 429.
const maxRateLimited = 5

// try runs a REST call (retrying after 429s) and reports whether it
// succeeded. Failures are logged, and the log never holds a token.
func (c *conversation) try(ctx context.Context, what string, f func() error) bool {
	if err := c.a.retry(ctx, f); err != nil {
		c.log.Warn("discord "+what+" failed", "err", c.scrub(err))
		return false
	}
	return true
}

func (c *conversation) editOriginal(ctx context.Context, m chat.Message) {
	r := render(m, c.a.cat)
	c.try(ctx, "edit reply", func() error {
		return c.editMessage(ctx, "@original", r.webhookEdit())
	})
}

// editMessage edits the interaction's response ("@original") or one of
// its follow-ups. Discord limits these edits per interaction token;
// discordgo's own edit counts every interaction's against one limit,
// and sends them one at a time, so that one deploy's progress, its limit
// spent, held back every other command's reply until it reset. Here each
// interaction has a limit of its own.
func (c *conversation) editMessage(ctx context.Context, id string, e *discordgo.WebhookEdit) error {
	uri := discordgo.EndpointWebhookMessage(c.in.AppID, c.in.Token, id)
	bucket := discordgo.EndpointWebhookToken(c.in.AppID, c.in.Token) + "/messages/"
	_, err := c.a.s.RequestWithBucketID(http.MethodPatch, uri, e, bucket, discordgo.WithContext(ctx))
	return err
}

func (c *conversation) deleteOriginal(ctx context.Context) {
	c.try(ctx, "delete reply", func() error {
		return c.a.s.InteractionResponseDelete(c.in, discordgo.WithContext(ctx))
	})
}

// followup posts a follow-up message and returns its id ("" on failure).
func (c *conversation) followup(ctx context.Context, m chat.Message, ephemeral bool) string {
	r := render(m, c.a.cat)
	p := &discordgo.WebhookParams{Embeds: r.Embeds, Components: r.Components, AllowedMentions: noMentions()}
	if ephemeral {
		p.Flags = discordgo.MessageFlagsEphemeral
	}
	var id string
	c.try(ctx, "follow-up", func() error {
		msg, err := c.a.s.FollowupMessageCreate(c.in, true, p, discordgo.WithContext(ctx))
		if err == nil && msg != nil {
			id = msg.ID
		}
		return err
	})
	return id
}

// scrub returns err's text without the interaction token or the bot token:
// a failed request's error quotes its URL, and webhook URLs hold the token.
func (c *conversation) scrub(err error) string {
	return c.a.scrub(err, c.in.Token)
}

func (a *Adapter) scrub(err error, secrets ...string) string {
	s := err.Error()
	if tok := strings.TrimPrefix(a.token, "Bot "); tok != "" {
		s = strings.ReplaceAll(s, tok, "[redacted]")
	}
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// hide returns err with the text scrub gives it; errors.Is and errors.As
// still find its causes (a 429, Discord's refusal, a context's end).
func (a *Adapter) hide(err error) error {
	return &scrubbed{msg: a.scrub(err), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// rateLimitWait reports whether err is a 429, Discord's (a
// *discordgo.RateLimitError) or one in front of it (a *blockedError), and
// how long it asks to wait, within sane bounds.
func rateLimitWait(err error) (time.Duration, bool) {
	if rl, ok := errors.AsType[*discordgo.RateLimitError](err); ok {
		d := time.Second
		if rl.RateLimit != nil && rl.TooManyRequests != nil {
			d = rl.RetryAfter
		}
		return min(max(d, 50*time.Millisecond), time.Minute), true
	}
	if b, ok := errors.AsType[*blockedError](err); ok {
		// The block itself holds every call until it passes (see
		// globalLimit); the call tries again within a minute, as for
		// Discord's own 429s, and waits there.
		return min(b.retryAfter, time.Minute), true
	}
	return 0, false
}
