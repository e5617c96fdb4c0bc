package slack

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/pause"
)

// callTimeout bounds one Web API call of a publisher.
const callTimeout = 15 * time.Second

// limiter spaces calls out evenly: at most one per interval, shared by
// every progress message of the workspace. It is safe for concurrent use.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time // the earliest time of the next call
}

// reserve books the next free slot at or after now and returns its time.
func (l *limiter) reserve(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	return at
}

// hold moves every later slot to until or after: Slack said to wait.
func (l *limiter) hold(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next.Before(until) {
		l.next = until
	}
}

// publisher keeps one deploy's progress message up to date: it posts the
// message at the first event and then edits it, coalescing events so that
// Slack sees at most one edit per UpdateInterval (and the adapter at most
// UpdatesPerMinute across deploys). The latest state wins; the final
// state is always sent, retried for up to FinalDeadline.
//
// apply is safe for concurrent use; run is the publisher's one goroutine.
type publisher struct {
	a    *Adapter
	out  *output
	id   string // the deploy's
	wake chan struct{}

	mu      sync.Mutex // guards the fields below
	view    commands.Progress
	version int // bumped by every change of view
	app     string
	env     string
	sent    int // the version Slack shows

	// Owned by run.
	channel string // where the message goes; after the post, its id
	ts      string // the message, once posted
	broken  bool   // the message cannot be posted or edited; only the final state is sent, to the requester
}

func (a *Adapter) newPublisher(out *output, channel, id string) *publisher {
	p := &publisher{a: a, out: out, id: id, channel: channel, wake: make(chan struct{}, 1)}
	a.pubs.Add(1)
	go func() {
		defer a.pubs.Done()
		p.run(a.base)
	}()
	return p
}

// apply folds ev into the view and wakes the publisher; it never blocks on
// Slack.
func (p *publisher) apply(ev deploy.Event) {
	p.mu.Lock()
	p.view.Apply(ev)
	p.app, p.env = or(ev.App, p.app), or(ev.Env, p.env)
	p.version++
	p.mu.Unlock()
	p.poke()
}

func (p *publisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// state returns whether Slack lags behind the view, and whether the view
// is final.
func (p *publisher) state() (pending, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version != p.sent, p.view.Done()
}

func (p *publisher) run(ctx context.Context) {
	var refresh <-chan time.Time
	if p.a.opt.Refresh > 0 {
		t := time.NewTicker(p.a.opt.Refresh)
		defer t.Stop()
		refresh = t.C
	}
	var last time.Time       // when the message was last sent
	var finalSince time.Time // when the final state was first seen
	failures := 0
	for {
		pending, done := p.state()
		if done && finalSince.IsZero() {
			finalSince = time.Now()
		}
		if !pending {
			if done {
				return
			}
			select {
			case <-p.wake:
			case <-refresh:
				p.mu.Lock()
				p.version++ // the elapsed time moved
				p.mu.Unlock()
			case <-ctx.Done():
				return
			}
			continue
		}
		if p.broken && !done {
			// Wait for the final state without spending Slack's budget.
			select {
			case <-p.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		if pause.For(ctx, time.Until(last.Add(p.a.opt.UpdateInterval))) != nil {
			return
		}
		if pause.For(ctx, time.Until(p.a.limiter.reserve(time.Now()))) != nil {
			return
		}
		p.mu.Lock()
		msg, version := p.view.Message(p.a.opt.Now()), p.version
		p.mu.Unlock()

		err := p.send(ctx, msg)
		last = time.Now()
		if err == nil {
			p.mu.Lock()
			p.sent = version
			p.mu.Unlock()
			failures = 0
			continue
		}
		if wait, limited := retryAfter(err); limited {
			p.a.log.Warn("slack rate limit; holding progress updates", "retry_after", wait, "channel", p.channel)
			p.a.limiter.hold(time.Now().Add(wait))
		} else {
			failures++
			p.a.log.Warn("progress message not sent", "channel", p.channel, "deploy", p.id, "attempt", failures, "err", err)
			if pause.For(ctx, backoff(failures)) != nil {
				return
			}
		}
		if done && time.Since(finalSince) > p.a.opt.FinalDeadline {
			p.undelivered(msg, err, p.channel, "")
			return
		}
	}
}

// undelivered reports a final state that reached nobody: at ERROR, and
// to the handler, whose status then shows it. channel or via (see
// commands.Undelivered) is what refused the last attempt, err its answer.
func (p *publisher) undelivered(final chat.Message, err error, channel, via string) {
	p.mu.Lock()
	app, env := p.app, p.env
	p.mu.Unlock()
	reason := redact(err)
	p.a.log.Error("gave up sending the final state of a deploy to slack", "channel", channel, "via", via, "deploy", p.id,
		"app", app, "env", env, "outcome", final.Title, "err", reason)
	p.a.opt.Handler.NoteUndelivered(commands.Undelivered{DeployID: p.id, App: app, Env: env, Platform: Platform,
		Channel: channel, Via: via, Reason: reason, At: p.a.opt.Now()})
}

// viaResponseURL names a command's response URL in an undelivered note.
const viaResponseURL = "through the command's response URL"

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// backoff is the pause after the n-th failure in a row.
func backoff(n int) time.Duration {
	return min(time.Second<<min(n-1, 5), 30*time.Second)
}

// send posts or edits the message. Errors Slack will repeat (a channel the
// bot is not in or that was archived, a deleted message) are handled here:
// the message is posted anew, moves to the requester's channel, or, as a
// last resort, the final state goes to the requester alone.
func (p *publisher) send(ctx context.Context, msg chat.Message) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	c := p.a.client
	if p.broken {
		// To the requester alone: the progress message is for the
		// channel, and where the bot cannot post there, an answer of the
		// response URL "in_channel" would show it to the whole channel
		// (a private one the bot is not in, say) after all.
		msg.Public = false
		if err := p.out.reply(msg); err != nil {
			// reply tries the response URL last, where there is one: its
			// answer is the error, and the requester's channel was not
			// the last to refuse.
			if p.out.responseURL != "" {
				p.undelivered(msg, err, "", viaResponseURL)
			} else {
				p.undelivered(msg, err, p.out.channel, "")
			}
		}
		return nil
	}
	if p.ts != "" {
		err := c.update(ctx, p.channel, p.ts, msg)
		if code := slackError(err); code != "" && !transient[code] {
			// Slack will refuse every edit alike (the message deleted, the
			// channel archived, the bot removed from it): post a new one
			// next time, which moves to the requester's channel, or to the
			// requester alone, where the channel refuses posts too.
			p.ts = ""
		}
		return err
	}
	ch, ts, err := c.post(ctx, p.channel, msg)
	switch code := slackError(err); {
	case err == nil:
		p.channel, p.ts = ch, ts
		if ch != p.out.channel {
			p.link(ctx)
		}
		return nil
	case code == "" || transient[code]:
		return err // try again
	case p.channel != p.out.channel:
		p.a.log.Error("cannot post deploy progress in the deploy channel; using the requester's", "channel", p.channel, "err", err)
		p.channel = p.out.channel
	default:
		p.a.log.Error("cannot post deploy progress; the requester gets the final state only", "channel", p.channel, "err", err)
		p.broken = true
	}
	return err
}

// transient are the Slack error codes of a call worth making again: its
// own trouble, not the request's. Any other code repeats, and moves the
// progress elsewhere.
var transient = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true, "ratelimited": true,
}

// link tells the requester where the progress of their deploy is.
func (p *publisher) link(ctx context.Context) {
	text := fmt.Sprintf("Progress of deploy %s is in <#%s>", escape(p.id), p.channel)
	if url, err := p.a.client.permalink(ctx, p.channel, p.ts); err == nil && url != "" {
		text += fmt.Sprintf(": <%s|view the message>", url)
	}
	blocks := []slack.Block{section(mrkdwn(text))}
	// A 429 is waited out while ctx allows: a mention has no response
	// URL to fall back on, and the requester would not learn where the
	// progress of their deploy is.
	err := retry(ctx, replyAttempts, func(ctx context.Context) error {
		return p.a.client.ephemeralBlocks(ctx, p.out.channel, p.out.userID, blocks, text)
	})
	if err != nil && p.out.responseURL != "" {
		// Where Slack takes no ephemeral message from the bot (a direct
		// message between two people, a private channel the bot is not
		// in), the command's response URL still reaches the requester.
		err = p.a.client.respondBlocks(ctx, p.out.responseURL, blocks, text)
	}
	if err != nil {
		p.a.log.Warn("could not link the progress message", "user", p.out.userID, "err", err)
	}
}
