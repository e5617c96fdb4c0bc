package deploy_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// downHosts is a fleet of host directories (see hostDirs) whose hosts in
// down cannot be reached.
type downHosts struct {
	hostDirs
	mu   sync.Mutex
	down map[string]bool
}

func (d *downHosts) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	d.mu.Lock()
	down := d.down[h.Name]
	d.mu.Unlock()
	if down {
		return nil, fmt.Errorf("dial %s: connection refused: %w", h.Name, deploy.ErrUnreachable)
	}
	return d.hostDirs.Open(ctx, h)
}

// TestNothingToDoResolvesAnInterruptedRun: once an env an interrupted
// deploy left half switched is fixed by hand, a deploy or rollback that
// reaches every host, finds them all on the release it names and has
// nothing to do has seen the hosts agree: it records so (outcome
// unchanged), which resolves the interrupted run, and says so. One that
// could not reach a host has seen only some, and resolves nothing; nor
// does it write a record.
func TestNothingToDoResolvesAnInterruptedRun(t *testing.T) {
	tests := []struct {
		name     string
		kind     deploy.Kind
		down     string // a host that cannot be reached
		resolved bool
	}{
		{name: "a deploy, every host reached", kind: deploy.KindDeploy, resolved: true},
		{name: "a rollback, every host reached", kind: deploy.KindRollback, resolved: true},
		{name: "a deploy, a host down", kind: deploy.KindDeploy, down: "h2"},
		{name: "a rollback, a host down", kind: deploy.KindRollback, down: "h2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "web")
			yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n",
				"        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n        max_failures: "+strconv.Itoa(1)+"\n        hosts:\n          - {name: h0, address: 'a:22'}\n          - {name: h1, address: 'b:22'}\n          - {name: h2, address: 'c:22'}\n", 1)
			yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
			m := &downHosts{hostDirs: hostDirs{configured: root}, down: map[string]bool{}}
			var log syncbuf.Buffer
			f := newFixtureWith(t, yaml, func(o *deploy.Options) {
				o.Transports["ssh"] = m
				o.Log = slog.New(slog.NewTextHandler(&log, nil))
			})
			m.app = f.app
			var two *deploy.Record
			for _, b := range []string{"1", "2"} {
				f.build(b)
				two = f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			// Deploy 3's process died after switching h0, before its
			// restart; someone put h0 back on 2 by hand since.
			d3 := two.Clone()
			d3.ID, d3.Build, d3.Previous, d3.Started = "20261123-130000-d3d3d3", "3", "2", time.Now()
			d3.Finished, d3.Outcome, d3.Error = d3.Started, deploy.OutcomeInterrupted, "the process running this deploy (gone:1) stopped before it finished; hosts are as observed at recovery"
			d3.Hosts = []deploy.HostResult{
				{Host: "h0", State: deploy.HostActivating, Current: "3", Previous: "2", Switched: true},
				{Host: "h1", State: deploy.HostDelivered, Current: "2", Previous: "2"},
				{Host: "h2", State: deploy.HostDelivered, Current: "2", Previous: "2"},
			}
			if err := f.store.PutRecord(context.Background(), d3); err != nil {
				t.Fatal(err)
			}
			if got := f.link(filepath.Join("..", "web-h0", "current")); got != "releases/2" {
				t.Fatalf("h0: current -> %q, want releases/2 (as put back by hand)", got)
			}
			if tt.down != "" {
				m.mu.Lock()
				m.down[tt.down] = true
				m.mu.Unlock()
			}

			before := len(log.String())
			_, err := f.run(tt.kind, "2")
			said := strings.Contains(errs.Message(err), "deploy "+d3.ID+", interrupted, is resolved")
			if errs.CodeOf(err) != errs.NoChange || said != tt.resolved {
				t.Errorf("%s 2: got %v; want nothing to do, saying deploy 3 is resolved: %v", tt.kind, err, tt.resolved)
			}
			// A host not reached may run another release: nothing to do
			// is said of the hosts reached, and the others are named.
			if msg := errs.Message(err); tt.down != "" && (!strings.Contains(msg, "already runs build 2 on every reachable host") || !strings.Contains(msg, tt.down+" could not be reached")) {
				t.Errorf("%s 2 with %s down: got %q, want it said of every reachable host, naming %s", tt.kind, tt.down, msg, tt.down)
			}
			recs, err := f.store.Records(context.Background(), deploy.Filter{App: "web", Env: "prod"})
			if err != nil {
				t.Fatal(err)
			}
			stuck, _ := deploy.Unresolved(recs)
			switch {
			case tt.resolved && stuck != nil:
				t.Errorf("unresolved: %s, want none", stuck.ID)
			case !tt.resolved && (stuck == nil || stuck.ID != d3.ID):
				t.Errorf("unresolved: %+v, want deploy 3", stuck)
			}
			if !tt.resolved {
				if recs[0].ID != d3.ID {
					t.Errorf("newest record %s %s %s, want none after deploy 3", recs[0].Kind, recs[0].Build, recs[0].Outcome)
				}
				return
			}
			got := recs[0]
			// Recorded, it is a run that ended, and logged as one.
			if ended := string(tt.kind) + " ended"; strings.Count(log.String()[before:], ended) != 1 || !strings.Contains(log.String()[before:], "deploy="+got.ID) || !strings.Contains(log.String()[before:], "outcome=unchanged") {
				t.Errorf("log: got %q, want one line %q of %s, outcome unchanged", log.String()[before:], ended, got.ID)
			}
			if got.Kind != tt.kind || got.Build != "2" || got.Outcome != deploy.OutcomeUnchanged || got.Finished.IsZero() || len(got.Hosts) != 3 {
				t.Fatalf("newest record: %+v, want the %s of 2, unchanged, finished", got, tt.kind)
			}
			for _, h := range got.Hosts {
				if h.State != deploy.HostUnchanged || h.Current != "2" || h.MayHaveSwitched() {
					t.Errorf("%s: %+v, want unchanged on 2", h.Host, h)
				}
			}
			for _, h := range []string{"h0", "h1", "h2"} {
				if got := f.link(filepath.Join("..", "web-"+h, "current")); got != "releases/2" {
					t.Errorf("%s: current -> %q, want releases/2, untouched", h, got)
				}
				if b, _ := os.ReadFile(filepath.Join(f.app+"-"+h, "restarts.log")); strings.Count(string(b), "\n") != 2 {
					t.Errorf("%s restarted: %q, want only by deploys 1 and 2", h, b)
				}
			}
		})
	}
}
