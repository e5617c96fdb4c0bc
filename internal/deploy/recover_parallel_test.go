package deploy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestRecoverReadsIndependentEnvsAtOnce: the runs two apps' deploys left
// running when their process died are recovered at once, not one after
// the other: each reads its hosts, and a host that never answers held
// the recovery of every app after its own for the connect timeout (or
// recoverObserveTimeout), and the bot's jobs that start after it. Here
// both apps' hosts never answer: the second app's host is reached well
// before the first's connect timeout has passed, and both runs are
// recorded interrupted.
func TestRecoverReadsIndependentEnvsAtOnce(t *testing.T) {
	t.Parallel()
	const connectTimeout = 5 * time.Second
	fleet := startFleet(t, 1) // its user, client key and known_hosts
	type app struct {
		name     string
		addr     string
		accepted func() int
	}
	apps := []*app{{name: "web"}, {name: "api"}}
	dir := t.TempDir()
	var y strings.Builder
	y.WriteString("apps:\n")
	for _, a := range apps {
		a.addr, a.accepted = sshd.Silent(t)
		fmt.Fprintf(&y, "  %s:\n    artifact: {path: %s}\n    path: /srv/%s\n    restart: 'true'\n", a.name, yq(filepath.Join(dir, "{app}-{build}.tar.gz")), a.name)
		fmt.Fprintf(&y, "    environments:\n      prod:\n        transport: ssh\n")
		fmt.Fprintf(&y, "        ssh: {user: %s, key_file: %s, known_hosts: %s, connect_timeout: %s}\n", yq(fleet.User), yq(fleet.ClientKey), yq(fleet.KnownHosts), connectTimeout)
		fmt.Fprintf(&y, "        hosts: [%s0=%s]\n", a.name, a.addr)
	}
	cfg, err := config.Parse(filepath.Join(dir, "switchman.yaml"), []byte(y.String()), nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y.String())
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fleetFixture{t: t, fleet: fleet, cfg: cfg, store: st}
	f.engine = deploy.NewEngine(deploy.Options{Config: cfg, Transport: f.transport, Store: st, Leases: st, Locks: st})
	t.Cleanup(f.closeTransports)
	ctx := context.Background()
	for i, a := range apps {
		if err := st.PutRecord(ctx, &deploy.Record{ID: fmt.Sprintf("20260101-000000-dead%02d", i), Kind: deploy.KindDeploy, App: a.name, Env: "prod",
			Build: "2", Requester: "ana", Owner: "gone:1", Started: time.Now().Add(-time.Minute), Outcome: deploy.OutcomeRunning,
			Hosts: []deploy.HostResult{{Host: a.name + "0", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true}}}); err != nil {
			t.Fatal(err)
		}
	}

	type result struct {
		recs []*deploy.Record
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		recs, err := f.engine.Recover(ctx)
		done <- result{recs, err}
	}()
	reached := map[string]time.Duration{}
	for len(reached) < len(apps) {
		for _, a := range apps {
			if _, ok := reached[a.name]; !ok && a.accepted() > 0 {
				reached[a.name] = time.Since(start)
			}
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("hosts reached after a minute: %v, want both", reached)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var first, last time.Duration = time.Hour, 0
	for _, d := range reached {
		first, last = min(first, d), max(last, d)
	}
	if last-first > connectTimeout*3/4 {
		t.Errorf("hosts reached at %v: the second %s after the first, want both well within the connect timeout (%s) of each other", reached, last-first, connectTimeout)
	}
	res := <-done
	if res.err != nil || len(res.recs) != len(apps) {
		t.Fatalf("recover: got %d records, %v; want both runs", len(res.recs), res.err)
	}
	for _, r := range res.recs {
		if r.Outcome != deploy.OutcomeInterrupted {
			t.Errorf("%s: outcome %s, want interrupted", r.ID, r.Outcome)
		}
	}
}
