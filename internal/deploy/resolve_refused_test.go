package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// resolveRefused refuses with err the write of the record of a run with
// nothing to do that resolves an interrupted one (the only record
// written unchanged), and counts those writes; every other call goes
// through.
type resolveRefused struct {
	deploy.Store
	err     error
	mu      sync.Mutex
	refused int
}

func (s *resolveRefused) PutRecord(ctx context.Context, r *deploy.Record) error {
	if r.Outcome != deploy.OutcomeUnchanged {
		return s.Store.PutRecord(ctx, r)
	}
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
	return s.err
}

// TestNothingToDoResolveUnrecorded: a deploy or rollback that reaches
// every host and finds them all on its release resolves an interrupted
// run by recording itself, unchanged. When the store failed that write,
// the reply was plain "nothing to do", and people took the interrupted
// run for resolved while status still showed it unresolved. A store that
// stored nothing of the write leaves it unresolved, and the reply says
// so; one whose write may have been applied (a timeout) says that
// whether it is resolved is not known. Either way it says why, and that
// the same run again resolves it.
func TestNothingToDoResolveUnrecorded(t *testing.T) {
	const d3ID = "20261123-130000-d3d3d3"
	tests := []struct {
		name string
		kind deploy.Kind
		err  error
		// want: what the reply says; wrong: what it must not.
		want  []string
		wrong []string
	}{
		{
			name: "a deploy, the store unusable",
			kind: deploy.KindDeploy,
			err:  fmt.Errorf("%s: %w", unusableSays, deploy.ErrStoreUnusable),
			want: []string{"already runs build 2", "nothing to do", "deploy " + d3ID + ", interrupted, is still unresolved", unusableSays,
				suggest.Command("status web") + " still shows it", suggest.Command("deploy web 2 to prod") + " resolves it"},
			wrong: []string{"is resolved", "not known"},
		},
		{
			name: "a rollback, the store closed",
			kind: deploy.KindRollback,
			err:  fmt.Errorf("state store state.db: %w", deploy.ErrStoreClosed),
			want: []string{"nothing to do", "deploy " + d3ID + ", interrupted, is still unresolved", "its state store is closed",
				suggest.Command("rollback web prod to 2") + " resolves it"},
			wrong: []string{"is resolved", "not known"},
		},
		{
			name: "a deploy, the store timed out",
			kind: deploy.KindDeploy,
			err:  errs.Wrap(errs.Unavailable, context.DeadlineExceeded, "state store did not answer in time"),
			want: []string{"already runs build 2", "nothing to do", "whether deploy " + d3ID + ", interrupted, is resolved is not known", "state store did not answer in time",
				suggest.Command("status web") + " shows whether it is still unresolved", suggest.Command("deploy web 2 to prod") + " resolves it"},
			wrong: []string{"is resolved:", "still unresolved:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &resolveRefused{err: tt.err}
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				st.Store = o.Store
				o.Store = st
			})
			d3 := diedBeforeSwitching(t, f, d3ID)

			_, err := f.run(tt.kind, "2")
			if errs.CodeOf(err) != errs.NoChange {
				t.Fatalf("%s 2: got %v (code %s), want nothing to do", tt.kind, err, errs.CodeOf(err))
			}
			st.mu.Lock()
			refused := st.refused
			st.mu.Unlock()
			if refused != 1 {
				t.Errorf("writes of the resolving record: got %d, want 1", refused)
			}
			msg := errs.Message(err)
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("%s 2: got %q, want it to say %q", tt.kind, msg, want)
				}
			}
			for _, wrong := range tt.wrong {
				if strings.Contains(msg, wrong) {
					t.Errorf("%s 2: got %q, which says %q", tt.kind, msg, wrong)
				}
			}
			stillUnresolved(t, f, d3)
		})
	}
}
