package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// resolveUnread refuses reads of web/prod's deploy history once armed,
// from the refuseFrom-th on (counted from 1); reads before it, and every
// read before arming, are answered.
type resolveUnread struct {
	deploy.Store
	mu         sync.Mutex
	armed      bool
	refuseFrom int
	reads      int
	refused    int
}

const resolveUnreadSays = "state store did not answer in time: context deadline exceeded"

// arm starts counting reads, refusing them from the n-th on.
func (s *resolveUnread) arm(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed, s.refuseFrom, s.reads, s.refused = true, n, 0, 0
}

func (s *resolveUnread) Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	s.mu.Lock()
	refuse := false
	if s.armed && f.App == "web" && f.Env == "prod" {
		s.reads++
		refuse = s.reads >= s.refuseFrom
		if refuse {
			s.refused++
		}
	}
	s.mu.Unlock()
	if refuse {
		return nil, errors.New(resolveUnreadSays)
	}
	return s.Store.Records(ctx, f)
}

// TestNothingToDoHistoryUnreadable: a deploy that reaches every host and
// finds them all on its build resolves an interrupted run by recording
// itself, unchanged. When it cannot read the history to find that run,
// it answered plain "nothing to do", and people took the env for
// settled while the interrupted run stayed unresolved: it says it could
// not look, why, and where to see it.
func TestNothingToDoHistoryUnreadable(t *testing.T) {
	st := &resolveUnread{}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		st.Store = o.Store
		o.Store = st
	})
	d3 := diedBeforeSwitching(t, f, "20261123-130000-d3d3d3")

	// Before it reads a host, a deploy reads the history twice: for runs
	// still recorded running, which it takes over, and for what the last
	// run left. Those are answered; every later read is the one that looks
	// for an interrupted run to resolve, and is refused. Were one of the
	// first two refused, the deploy would be refused before it found
	// nothing to do, which the reply below would show.
	st.arm(3)
	_, err := f.run(deploy.KindDeploy, "2")
	if errs.CodeOf(err) != errs.NoChange {
		t.Fatalf("deploy 2: got %v (code %s), want nothing to do", err, errs.CodeOf(err))
	}
	st.mu.Lock()
	reads, refused := st.reads, st.refused
	st.mu.Unlock()
	if refused == 0 {
		t.Errorf("deploy 2: %d reads of the history, none refused, want the search for an interrupted run refused", reads)
	}
	msg := errs.Message(err)
	for _, want := range []string{"already runs build 2", "nothing to do", "could not read the deploy history to see whether an interrupted run is left to resolve", resolveUnreadSays, suggest.Command("status web") + " shows it"} {
		if !strings.Contains(msg, want) {
			t.Errorf("deploy 2: got %q, want it to say %q", msg, want)
		}
	}
	if strings.Contains(msg, "is resolved") {
		t.Errorf("deploy 2: got %q, which says a run is resolved", msg)
	}
	stillUnresolved(t, f, d3)
}

// diedBeforeSwitching deploys builds 1 and 2 on f, then records deploy id
// of build 3 as one whose process died before it switched a host: every
// host delivered, still on 2. It returns that record.
func diedBeforeSwitching(t *testing.T, f *fixture, id string) *deploy.Record {
	t.Helper()
	var two *deploy.Record
	for _, b := range []string{"1", "2"} {
		f.build(b)
		two = f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	d3 := two.Clone()
	d3.ID, d3.Build, d3.Previous, d3.Started = id, "3", "2", time.Now()
	d3.Finished, d3.Outcome, d3.Error = d3.Started, deploy.OutcomeInterrupted, "the process running this deploy (gone:1) stopped before it finished; hosts are as observed at recovery"
	for i := range d3.Hosts {
		d3.Hosts[i].State, d3.Hosts[i].Current, d3.Hosts[i].Previous = deploy.HostDelivered, "2", "2"
	}
	if err := f.store.PutRecord(context.Background(), d3); err != nil {
		t.Fatal(err)
	}
	return d3
}

// stillUnresolved fails t unless deploy d3 is still the newest record of
// web/prod on f, and the one Unresolved returns.
func stillUnresolved(t *testing.T, f *fixture, d3 *deploy.Record) {
	t.Helper()
	recs, err := f.store.Records(context.Background(), deploy.Filter{App: "web", Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].ID != d3.ID {
		t.Errorf("newest record %s %s %s, want none after deploy 3", recs[0].Kind, recs[0].Build, recs[0].Outcome)
	}
	if stuck, _ := deploy.Unresolved(recs); stuck == nil || stuck.ID != d3.ID {
		t.Errorf("unresolved: %+v, want deploy 3", stuck)
	}
}
