package commands

import (
	"fmt"
	"sync"
	"time"
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
// env's last. The note is kept in this process only: a status answered by
// another replica, or after a restart, does not show it (the ERROR the
// adapter logs stays).
func (s *Service) NoteUndelivered(u Undelivered) {
	s.undelivered.put(u)
}

// undeliveredLine is status's line for a note about run id of app/env, or "".
func (s *Service) undeliveredLine(app, env, id string) string {
	u, ok := s.undelivered.get(app, env, id)
	if !ok {
		return ""
	}
	where := u.Platform
	if u.Channel != "" {
		where += " channel " + u.Channel
	}
	return fmt.Sprintf("  ⚠ its final report was not posted (%s, %s): %s; status is where it shows", where, u.At.In(s.now().Location()).Format("15:04:05 MST"), u.Reason)
}
