package deploy_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackNamesTheHostItLeftOut: a rollback that leaves a host out
// within max_failures names it before its reason, unless the reason names
// it with its address as SSH's do. A reason that only had the host's name
// in it, in a path, read as if it said which host was refused.
func TestRollbackNamesTheHostItLeftOut(t *testing.T) {
	tests := []struct {
		name, reason, want string
	}{
		{"its name in a path", "open: /srv/web/.ssh/rc: permission denied", "refused: web: open: /srv/web/.ssh/rc: permission denied"},
		{"named with its address", "ssh: web (127.0.0.1:22): host key changed", "refused: ssh: web (127.0.0.1:22): host key changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refusing atomic.Bool
			tr := &hostHooks{refuse: func(host string) error {
				if host == "web" && refusing.Load() {
					return errors.New(tt.reason)
				}
				return nil
			}}
			f := localFleet(t, tr, "", []string{"max_failures: 1"}, "web", "b")
			for _, b := range []string{"1", "2"} {
				f.build(b)
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			refusing.Store(true)
			rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomePartial)
			if !strings.Contains(rec.Error, tt.want+"; those were left as they were") {
				t.Errorf("got %q, want it to say %q", rec.Error, tt.want)
			}
		})
	}
}
