// Package chattest holds the messages the chat adapters' tests send
// through their fake platforms.
package chattest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// Named is a message with a name for a subtest.
type Named struct {
	Name    string
	Message chat.Message
}

// Large returns the largest messages Switchman sends: the final message of
// a deploy to 50 hosts that all failed with 4 KiB of standard error each,
// and a train of 20 cars boarding. A platform refuses a message whole when
// it is over one of its limits, so each adapter's tests check that these
// are accepted.
func Large() []Named {
	stderr := strings.Repeat("npm ERR! code ELIFECYCLE in /srv/web/releases/1337\n", 80)
	started := time.Date(2026, 11, 23, 12, 41, 58, 0, time.UTC)
	r := &deploy.Record{ID: "20261123-124158-b25a0a", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "2026.11.23-1337",
		Previous: "2026.11.22-1336", Requester: "ana", Started: started, Finished: started.Add(5 * time.Minute),
		Outcome: deploy.OutcomeFailed, Error: "web-01: restart failed: " + stderr}
	for i := range 50 {
		r.Hosts = append(r.Hosts, deploy.HostResult{Host: fmt.Sprintf("web-%02d.prod.example.internal", i+1), State: deploy.HostFailed,
			Current: "2026.11.22-1336", Error: "restart failed: " + stderr})
	}
	var cars []string
	for i := range 20 {
		cars = append(cars, fmt.Sprintf("service%02d 2026.11.%02d (@engineer%02d)", i, i+1, i))
	}
	return []Named{
		{"failed deploy to 50 hosts", commands.FinalMessage(r, r.Finished)},
		{"train of 20 cars", chat.Message{Level: chat.Info, Public: true,
			Title: "🚂 The 15:00 release train to production is boarding: " + strings.Join(cars, ", ") + ". Board with /train board APP BUILD."}},
	}
}

// Refusals is the part of an adapter test's fake handler that records
// the requests the adapter asks it to audit as refused before they ran.
// With Stuck set, AuditRefusal waits for its context to end, as a store
// that does not answer would; with Slow set, it takes that long to
// record, as a store under load does (or fails if its context ends
// first). Set them before the adapter is used.
type Refusals struct {
	Stuck bool
	Slow  time.Duration

	mu  sync.Mutex
	got []commands.Request
}

// AuditRefusal records req, or waits out ctx when Stuck.
func (r *Refusals) AuditRefusal(ctx context.Context, req commands.Request) error {
	if r.Stuck {
		<-ctx.Done()
		return ctx.Err()
	}
	if r.Slow > 0 {
		t := time.NewTimer(r.Slow)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	r.got = append(r.got, req)
	r.mu.Unlock()
	return nil
}

// Audited returns the refusals recorded so far.
func (r *Refusals) Audited() []commands.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]commands.Request(nil), r.got...)
}

// Undelivered is the part of an adapter test's fake handler that records
// the final reports the adapter could post nowhere.
type Undelivered struct {
	mu  sync.Mutex
	got []commands.Undelivered
}

// NoteUndelivered records u.
func (n *Undelivered) NoteUndelivered(u commands.Undelivered) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, u)
}

// Notes returns the notes so far.
func (n *Undelivered) Notes() []commands.Undelivered {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]commands.Undelivered(nil), n.got...)
}
