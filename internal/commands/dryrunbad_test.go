package commands_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
)

// TestDryRunOfABadRelease: the dry run of a release marked bad (a deploy
// of it failed, or a rollback left it) says so, and what the deploy does
// about the marker; deploying it again is allowed, so the plan is still
// shown. Of a release that is not marked, it says nothing of the kind.
func TestDryRunOfABadRelease(t *testing.T) {
	const bad = "release %s is marked bad on localhost"
	tests := []struct {
		name  string
		steps []string // run in order, each must end as its outcome says
		build string   // dry run of it
		isBad bool
	}{
		{name: "a failed deploy left it", steps: []string{"deploy web 1", "deploy web 3"}, build: "3", isBad: true},
		{name: "a rollback left it", steps: []string{"deploy web 1", "deploy web 2", "rollback web prod", "unlock deploys web prod"}, build: "2", isBad: true},
		{name: "a good release", steps: []string{"deploy web 1", "deploy web 2", "deploy web 1"}, build: "2", isBad: false},
		{name: "deployed again since it failed", steps: []string{"deploy web 1", "deploy web 2", "rollback web prod", "unlock deploys web prod", "deploy web 2", "deploy web 1"}, build: "2", isBad: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-3.tar.gz"), tgz(t, map[string]string{"BUILD": "broken"}))
			for _, s := range tt.steps {
				if res, out, rec := f.do("ana", s); res.Failed && rec == nil {
					t.Fatalf("%q: got %+v, %q", s, res, out.last())
				}
			}
			res, out, _ := f.do("bob", "deploy web "+tt.build+" --dry-run")
			got := out.last()
			if res.Failed || !strings.Contains(got, "nothing was changed") {
				t.Fatalf("dry run: got %+v, %q; want a plan", res, got)
			}
			want := strings.Replace(bad, "%s", tt.build, 1)
			if strings.Contains(got, want) != tt.isBad {
				t.Errorf("dry run:\n%s\nsays %q: %v, want %v", got, want, !tt.isBad, tt.isBad)
			}
			if tt.isBad && !strings.Contains(got, "switching a host to it clears its marker") {
				t.Errorf("dry run:\n%s\nwant it to say what the deploy does about the marker", got)
			}
		})
	}
}
