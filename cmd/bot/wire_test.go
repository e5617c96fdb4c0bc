package main

import (
	"slices"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestInterruptedMessageHosts: the report of an interrupted deploy shows
// each host where its record leaves it. A host the deploy lost during its
// switch and nobody could read since may point at either release, or, on
// its first release, at the build or at none yet: it is not shown on the
// release it left as if it certainly still ran it.
func TestInterruptedMessageHosts(t *testing.T) {
	r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Outcome: deploy.OutcomeInterrupted, Error: "the process running this deploy (bot-1) stopped before it finished",
		Hosts: []deploy.HostResult{
			{Host: "web1", State: deploy.HostActive, Current: "2", Previous: "1", Switched: true},
			{Host: "web2", State: deploy.HostActivating, Current: "1", Switching: "2"},
			{Host: "web3", State: deploy.HostActivating, Switching: "2"},
			{Host: "web4", State: deploy.HostPending},
			{Host: "web5", State: deploy.HostUnreachable, Current: "1", Switching: "2", Error: "dial tcp: connection refused"},
		}}
	want := []chat.Field{
		{Label: "web1", Value: "on 2"},
		{Label: "web2", Value: "on 1 or 2"},
		{Label: "web3", Value: "on 2 or no release yet"},
		{Label: "web4", Value: "on none"},
		{Label: "web5", Value: "unreachable: dial tcp: connection refused"},
	}
	if got := interruptedMessage(r).Fields; !slices.Equal(got, want) {
		t.Errorf("fields:\ngot  %q\nwant %q", got, want)
	}
}
