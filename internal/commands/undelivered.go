package commands

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Undelivered is the final report of a deploy or rollback that a chat
// adapter could post nowhere (its reply expired, the bot may not post in
// the channel): status shows it with the env, so that the outcome is not
// known to the logs alone.
type Undelivered struct {
	DeployID string
	App, Env string
	Platform string
	Channel  string
	// Via names what refused it when that was no channel: "through the
	// command's response URL", with Channel empty.
	Via string
	// Reason is why it was not posted, for the operator ("post channel
	// message: 403 Missing Access").
	Reason string
	At     time.Time
}

// undeliveredNotes holds the latest Undelivered of each app/env. It is
// safe for concurrent use.
type undeliveredNotes struct {
	mu    sync.Mutex
	byEnv map[string]Undelivered
}

func (n *undeliveredNotes) put(u Undelivered) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byEnv == nil {
		n.byEnv = map[string]Undelivered{}
	}
	n.byEnv[u.App+"/"+u.Env] = u
}

// get returns the note of app/env about the run id, if there is one.
func (n *undeliveredNotes) get(app, env, id string) (Undelivered, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	u, ok := n.byEnv[app+"/"+env]
	return u, ok && u.DeployID == id
}

// NoteUndelivered records that the final report of u.DeployID reached
// nobody: status shows it under its env for as long as that run is the
// env's last, and history with the run. It is written on the run's
// record, so that every replica shows it, also after a restart, within
// audit.Timeout of its own whatever becomes of the adapter's request;
// this process keeps it as well, so that its own status shows it when
// the store does not take it (that failure is logged).
func (s *Service) NoteUndelivered(u Undelivered) {
	if u.DeployID == "" {
		// No run to show it with.
		return
	}
	// The reason is the platform's error, which may quote what it was
	// sent or was told: status shows it, and it may not pass for a
	// command the bot suggests (see suggest).
	u.Reason = suggest.Strip(u.Reason)
	s.undelivered.put(u)
	ctx, cancel := context.WithTimeout(context.Background(), audit.Timeout)
	defer cancel()
	n := deploy.Undelivered{Platform: u.Platform, Channel: u.Channel, Via: u.Via, Reason: u.Reason, At: u.At}
	if err := s.store.MarkUndelivered(ctx, u.DeployID, n); err != nil {
		s.log.Error("record an undelivered final report", "deploy", u.DeployID, "app", u.App, "env", u.Env, "err", err)
	}
}

// undeliveredLine is the line of status and history about run r's final
// report when it was posted nowhere, or "": the note on r's record, or
// else the one this process kept.
func (s *Service) undeliveredLine(r *deploy.Record) string {
	n := r.Undelivered
	if n == nil {
		u, ok := s.undelivered.get(r.App, r.Env, r.ID)
		if !ok {
			return ""
		}
		n = &deploy.Undelivered{Platform: u.Platform, Channel: u.Channel, Via: u.Via, Reason: u.Reason, At: u.At}
	}
	where := n.Platform
	if n.Channel != "" {
		where += " channel " + n.Channel
	}
	if n.Via != "" {
		where += " " + n.Via
	}
	return fmt.Sprintf("  ⚠ its final report was not posted (%s, %s): %s", where, n.At.In(s.now().Location()).Format("15:04:05 MST"), n.Reason)
}
