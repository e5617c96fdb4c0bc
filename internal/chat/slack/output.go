package slack

import (
	"context"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// replyTimeout bounds one reply, retries included.
const replyTimeout = 30 * time.Second

// output is where the answers to one request go: replies to the requester,
// progress to the deploy channel. It implements commands.Output and is
// safe for concurrent use.
type output struct {
	a           *Adapter
	userID      string
	channel     string
	responseURL string

	mu   sync.Mutex
	pubs map[string]*publisher // by deploy id
}

// Reply shows m to the requester only (chat.postEphemeral), or to the
// channel when m is Public (chat.postMessage). Where the bot cannot post
// (not a member of the channel, a DM with someone else) it answers through
// the request's response_url.
func (o *output) Reply(m chat.Message) {
	if err := o.reply(m); err != nil {
		o.a.log.Error("reply to slack failed", "user", o.userID, "channel", o.channel, "err", redact(err))
	}
}

// reply is Reply, returning the error of the last way tried.
func (o *output) reply(m chat.Message) error {
	ctx, cancel := context.WithTimeout(o.a.base, replyTimeout)
	defer cancel()
	c := o.a.client
	err := retry(ctx, replyAttempts, func(ctx context.Context) error {
		if m.Public {
			_, _, err := c.post(ctx, o.channel, m)
			return err
		}
		return c.ephemeral(ctx, o.channel, o.userID, m)
	})
	if err != nil && o.responseURL != "" {
		o.a.log.Info("answering through the response URL", "user", o.userID, "channel", o.channel, "err", err)
		err = retry(ctx, replyAttempts, func(ctx context.Context) error { return c.respond(ctx, o.responseURL, m) })
	}
	return err
}

// Progress folds ev into the deploy's progress message, which a publisher
// posts and edits in the background; it never waits for Slack.
func (o *output) Progress(ev deploy.Event) {
	o.mu.Lock()
	p := o.pubs[ev.DeployID]
	if p == nil {
		if o.pubs == nil {
			o.pubs = map[string]*publisher{}
		}
		p = o.a.newPublisher(o, o.a.deployChannel(ev.App, ev.Env, o.channel), ev.DeployID)
		o.pubs[ev.DeployID] = p
	}
	o.mu.Unlock()
	p.apply(ev)
}

func chatNotice(text string) chat.Message {
	return chat.Message{Level: chat.Info, Title: text}
}
