package deploy_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// firstRecordMembers and firstHostMembers are the members of a record and
// of its hosts as the first version of the bot stored them.
var (
	firstRecordMembers = []string{"id", "kind", "app", "env", "build", "previous", "requester", "platform", "channel",
		"started", "finished", "outcome", "error", "forced", "migrations", "hosts", "owner", "fence"}
	firstHostMembers = []string{"host", "state", "current", "previous", "error"}
)

// firstShape returns rec as the first version of the bot stored it,
// without the members later versions added, written under fence.
func firstShape(t *testing.T, rec *deploy.Record, fence int64) *deploy.Record {
	t.Helper()
	keep := func(data []byte, names []string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if !slices.Contains(names, k) {
				delete(m, k)
			}
		}
		return m
	}
	c := rec.Clone()
	c.Fence = fence
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	m := keep(data, firstRecordMembers)
	var hosts []json.RawMessage
	if err := json.Unmarshal(m["hosts"], &hosts); err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		hosts[i], _ = json.Marshal(keep(h, firstHostMembers))
	}
	m["hosts"], _ = json.Marshal(hosts)
	data, _ = json.Marshal(m)
	var old deploy.Record
	if err := json.Unmarshal(data, &old); err != nil {
		t.Fatal(err)
	}
	return &old
}

// TestHistoryOfTheFirstVersion: over deploy records as the first version
// stored them, unnamed rollbacks go where they go over this version's
// records (the previous release, then, by the history, the one before),
// and a run that version left running is recovered as interrupted.
func TestHistoryOfTheFirstVersion(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	for _, b := range []string{"1", "2", "3"} {
		f.build(b)
	}
	var recs []*deploy.Record
	for _, b := range []string{"1", "2", "3"} {
		recs = append(recs, f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded))
	}
	newest := recs[len(recs)-1].Fence
	for _, r := range recs {
		old := firstShape(t, r, newest)
		if old.RollbackTo != "" || old.Run != "" || old.Hosts[0].Switched {
			t.Fatalf("record %s still holds later members: %+v", r.ID, old)
		}
		if err := f.store.PutRecord(ctx, old); err != nil {
			t.Fatalf("rewrite %s: %v", r.ID, err)
		}
	}

	for _, want := range []string{"2", "1"} {
		rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
		if rec.Build != want || f.link("current") != "releases/"+want {
			t.Errorf("unnamed rollback: got build %s, current %s; want %s", rec.Build, f.link("current"), want)
		}
	}

	dead := firstShape(t, &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod",
		Build: "3", Previous: "1", Requester: "ana", Started: recs[0].Started, Outcome: deploy.OutcomeRunning, Owner: "gone:1",
		Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostDelivering, Current: "1", Previous: "1"}}}, f.deadFence())
	if err := f.store.PutRecord(ctx, dead); err != nil {
		t.Fatal(err)
	}
	got, err := f.engine.Recover(ctx)
	if err != nil || len(got) != 1 || got[0].ID != dead.ID {
		t.Fatalf("recover: got %v, %v; want the run left running", got, err)
	}
	rec, err := f.store.Record(ctx, dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeInterrupted || rec.Hosts[0].Current != "1" {
		t.Errorf("recovered: got %s, host %+v; want interrupted, on 1", rec.Outcome, rec.Hosts[0])
	}
}
