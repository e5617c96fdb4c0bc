package deploy_test

import (
	"slices"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestRunsBadTextOffersAWholeRollback: the rollback RunsBadText offers is
// marked as the bot's suggestion only when it is whole, written as
// typed: with the release the reverted hosts went back to; with them on
// several, the build is left to fill in, and the command is prose. It
// was marked with a leading slash, and with its placeholder.
func TestRunsBadTextOffersAWholeRollback(t *testing.T) {
	bad := deploy.HostResult{Host: "host2", Current: "2", RunsBad: true}
	tests := []struct {
		name  string
		hosts []deploy.HostResult
		want  string
		// marked is what the text marks as the bot's suggestions.
		marked []string
	}{
		{"one release back", []deploy.HostResult{{Host: "host1", State: deploy.HostReverted, Current: "1"}, bad},
			"host2 still runs 2, which is marked bad now (it ran it before this deploy, which did not switch it): roll it back with rollback web prod to 1",
			[]string{"rollback web prod to 1"}},
		{"two releases back", []deploy.HostResult{{Host: "host0", State: deploy.HostReverted, Current: "0"}, {Host: "host1", State: deploy.HostReverted, Current: "1"}, bad},
			"host2 still runs 2, which is marked bad now (it ran it before this deploy, which did not switch it): roll it back with rollback web prod to BUILD",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deploy.RunsBadText(&deploy.Record{App: "web", Env: "prod", Build: "2", Hosts: tt.hosts})
			if suggest.Strip(got) != tt.want {
				t.Errorf("got  %q\nwant %q", suggest.Strip(got), tt.want)
			}
			var marked []string
			suggest.Rewrite(got, func(cmd string) string { marked = append(marked, cmd); return cmd })
			if !slices.Equal(marked, tt.marked) {
				t.Errorf("marked %q, want %q", marked, tt.marked)
			}
		})
	}
}
