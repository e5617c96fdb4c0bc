package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackMissingOnAHostListsWhatEveryHostHas: after 1, 2 and 3 ran,
// h1 lost releases 1 and 2 (pruned by hand, or a host rebuilt). A
// rollback, named or not, is refused, and says which releases it could
// go to: those on every host. It listed the first host's, the missing
// release among them ("release 2 is not on h1; good releases on disk:
// 3, 2, 1"), so that the reply contradicted itself and sent the
// requester to name a release it would refuse again.
func TestRollbackMissingOnAHostListsWhatEveryHostHas(t *testing.T) {
	f, current := threeHosts(t)
	f.build("3")
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	for _, b := range []string{"1", "2"} {
		if err := os.RemoveAll(filepath.Join(f.app+"-h1", "releases", b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ to, want string }{
		{"", "release 2 of web/prod is not on h1; good releases on every host: 3; nothing was changed"},
		{"1", "release 1 of web/prod is not on h1; good releases on every host: 3; nothing was changed"},
	} {
		_, err := f.run(deploy.KindRollback, tc.to)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rollback to %q: got %v, want %q", tc.to, err, tc.want)
		}
	}
	for _, h := range []string{"h0", "h1", "h2"} {
		if got := current(h); got != "releases/3" {
			t.Errorf("%s: current %s after the refusals, want releases/3", h, got)
		}
	}
}
