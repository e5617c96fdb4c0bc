package ssh

import (
	"context"
	"sync"
	"time"
)

// DefaultJumpStartups is how many logins to one bastion may be in progress
// at once unless JumpHost.Startups says otherwise. OpenSSH's sshd drops
// new connections at random once 10 have not logged in yet (MaxStartups
// 10:30:100, its default): 8 leaves room for a person's login and for
// the moment the bastion takes to count a finished one out.
const DefaultJumpStartups = 8

// Startups bounds the logins to one bastion that are in progress at once,
// from dial to authentication: every connection to a host behind it is a
// login to the bastion first, and a deploy opens all of its hosts at once.
// Every Transport that reaches hosts through the same bastion must share
// one, as the bastion's MaxStartups counts them all.
//
// A login that gets no answer within its connect timeout makes those
// already waiting for their turn fail with it, rather than each wait its
// own timeout in turn: a bastion that is down then refuses a deploy of 200
// hosts after one connect timeout, not 25.
//
// It is safe for concurrent use.
type Startups struct {
	slots chan struct{}

	mu     sync.Mutex
	silent time.Time // when a login last gave up for want of an answer
}

// NewStartups returns a bound of n logins in progress at once (at least 1).
func NewStartups(n int) *Startups {
	return &Startups{slots: make(chan struct{}, max(n, 1))}
}

// size is how many logins may be in progress at once.
func (s *Startups) size() int { return cap(s.slots) }

// enter waits for a turn to log in. It returns leave, to call once the
// login has ended, saying whether the bastion left it unanswered until its
// timeout; or ctx's error; or errBastionSilent when, while this login
// waited, another gave up for want of an answer.
func (s *Startups) enter(ctx context.Context) (leave func(unanswered bool), err error) {
	since := time.Now()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	silent := s.silent.After(since)
	s.mu.Unlock()
	if silent {
		<-s.slots
		return nil, errBastionSilent
	}
	return func(unanswered bool) {
		if unanswered {
			s.mu.Lock()
			s.silent = time.Now()
			s.mu.Unlock()
		}
		<-s.slots
	}, nil
}
