package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestStatusNamesRunsUnderWay: status names what holds an app+env that
// this replica does not run, by its lease, as what it is: a deploy or a
// rollback starting or run by another replica, or the recovery of a run
// whose process stopped, which is neither (the id is the dead run's).
func TestStatusNamesRunsUnderWay(t *testing.T) {
	for _, tc := range []struct {
		name, holder, want, not string
	}{
		{"deploy", "20261204-101500-ab12 deploy of build 2 by bob",
			"▶ under way: deploy of build 2 by bob of web/prod (20261204-101500-ab12): starting, or run by another replica of the bot", ""},
		{"rollback", "20261204-101500-cd34 rollback of build 1 by bob",
			"▶ under way: rollback of build 1 by bob of web/prod (20261204-101500-cd34): starting, or run by another replica of the bot", ""},
		{"recovery", "recovery:20261204-101500-ef56",
			"▶ under way on web/prod: the recovery of a run whose process stopped (20261204-101500-ef56), which marks it interrupted and changes no host",
			"starting, or run by another replica"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixture(t)
			l, err := f.store.Acquire(t.Context(), "deploy:web/prod", tc.holder, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release(context.Background())
			r, out, _ := f.do("carl", "status")
			if r.Failed {
				t.Fatalf("status: %s", out.last())
			}
			if got := out.last(); !strings.Contains(got, tc.want) {
				t.Errorf("status: got %q, want %q", got, tc.want)
			}
			if got := out.last(); tc.not != "" && strings.Contains(got, tc.not) {
				t.Errorf("status: got %q, want no %q", got, tc.not)
			}
		})
	}
}
