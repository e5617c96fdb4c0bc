package deploy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/haproxy"
	haproxytest "github.com/switchman-bot/switchman/internal/testenv/haproxy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestFleetUnusablePoolRefusesTheDeploy: a load balancer the deploy could
// not drain a host from (its stats socket unreachable or below level
// admin, the backend or a host's server unknown to it) refuses the deploy before any host
// switches, saying why. Found only at the first host's drain, after its
// switch, it failed that host, marked the build bad for it, and left the
// host "could NOT switch back" for a switch back that drains it too.
func TestFleetUnusablePoolRefusesTheDeploy(t *testing.T) {
	tests := []struct {
		name    string
		socket  func(p *haproxytest.Proxy) string
		backend string
		server  string
		level   string // the stats socket's; default admin
		want    string
	}{
		{
			name:    "socket unreachable",
			socket:  func(*haproxytest.Proxy) string { return "tcp:" + freeLoopbackAddr(t) },
			backend: "app",
			server:  "{host}",
			want:    "cannot reach the haproxy stats socket",
		},
		{
			name:    "unknown backend",
			socket:  func(p *haproxytest.Proxy) string { return "tcp:" + p.StatsAddr() },
			backend: "nosuch",
			server:  "{host}",
			want:    "Can't find backend",
		},
		{
			name:    "unknown server",
			socket:  func(p *haproxytest.Proxy) string { return "tcp:" + p.StatsAddr() },
			backend: "app",
			server:  "web-{host}",
			want:    "no server web-host1 (host host1) in backend app",
		},
		{
			name:    "socket below level admin",
			socket:  func(p *haproxytest.Proxy) string { return "tcp:" + p.StatsAddr() },
			backend: "app",
			server:  "{host}",
			level:   "operator",
			want:    "needs level admin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fleet := startFleet(t, 2)
			// host0 is in the backend under every name the cases use;
			// host1 only under its own.
			proxy := haproxytest.Start(t, haproxytest.Options{Servers: map[string]string{
				"host0": freeLoopbackAddr(t), "web-host0": freeLoopbackAddr(t), "host1": freeLoopbackAddr(t),
			}, SocketLevel: tt.level})
			if proxy.Backend() != "app" {
				t.Fatalf("got backend %q, want app", proxy.Backend())
			}
			spec := fleetSpec{env: []string{
				"pool:",
				"  haproxy:",
				"    socket: " + yq(tt.socket(proxy)),
				"    backend: " + tt.backend,
				"    server: " + yq(tt.server),
			}}
			f := newFleetFixture(t, fleet, spec, haproxyPools)
			f.build("1")
			f.seed("1")
			f.build("2")
			rec, err := f.run(deploy.KindDeploy, "2")
			if err == nil {
				t.Fatalf("deploy 2: got outcome %s (%s), want it refused before it starts; hosts %+v", rec.Outcome, rec.Error, rec.Hosts)
			}
			msg := errs.Message(err)
			t.Logf("refused: %s", msg)
			for _, want := range []string{tt.want, "nothing was changed"} {
				if !strings.Contains(msg, want) {
					t.Errorf("got error %q, want it to say %q", msg, want)
				}
			}
			if got := errs.CodeOf(err); got != errs.Unavailable {
				t.Errorf("got code %v, want %v", got, errs.Unavailable)
			}
			for i, h := range fleet.Hosts {
				if got := f.link(i, "current"); got != "releases/1" {
					t.Errorf("%s: current -> %q, want releases/1", h.Name, got)
				}
				if f.exists(i, "releases/.bad-2") {
					t.Errorf("%s: release 2 marked bad, want it unmarked: no host ran it", h.Name)
				}
			}
			if recs := f.records(); len(recs) != 0 {
				t.Errorf("got %d records, want none: nothing started", len(recs))
			}
		})
	}
}

// upstreams starts a loopback HTTP server per host answering HAProxy's
// health checks, and haproxy in front of them; it returns the proxy and a
// client of its runtime API once every server is up.
func upstreams(t *testing.T, fleet *sshd.Fleet) (*haproxytest.Proxy, *haproxy.Client) {
	t.Helper()
	servers := map[string]string{}
	for _, h := range fleet.Hosts {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
		t.Cleanup(s.Close)
		servers[h.Name] = s.Listener.Addr().String()
	}
	proxy := haproxytest.Start(t, haproxytest.Options{Servers: servers})
	hap := &haproxy.Client{Dial: haproxy.TCPDialer(proxy.StatsAddr())}
	for _, h := range fleet.Hosts {
		waitAdmin(t, hap, proxy, h.Name, haproxy.StateReady)
	}
	return proxy, hap
}

// waitAdmin waits until server is up, in admin state want.
func waitAdmin(t *testing.T, hap *haproxy.Client, proxy *haproxytest.Proxy, server, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := hap.ServerState(context.Background(), proxy.Backend(), server)
		if err == nil && st.Operational == haproxy.OpUp && st.Admin == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy: %s not up and %s within 10s: got %+v, %v", server, want, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// poolSpec is a fleet spec whose env drains its hosts through proxy.
func poolSpec(proxy *haproxytest.Proxy) fleetSpec {
	return fleetSpec{env: []string{
		"pool:",
		"  haproxy:",
		"    socket: " + yq("tcp:"+proxy.StatsAddr()),
		"    backend: " + proxy.Backend(),
		"    drain_timeout: 5s",
	}}
}

// TestFleetDeployLeavesAHostTakenOutOfRotationOut: a host someone put in
// maint (or drain) through HAProxy, say a flaky one, is deployed but not
// put back into rotation: the deploy set every host it restarted ready,
// sending traffic to the host people had taken out, and said nothing.
func TestFleetDeployLeavesAHostTakenOutOfRotationOut(t *testing.T) {
	for _, state := range []string{haproxy.StateMaint, haproxy.StateDrain} {
		t.Run(state, func(t *testing.T) {
			fleet := startFleet(t, 2)
			proxy, hap := upstreams(t, fleet)
			if err := hap.SetState(context.Background(), proxy.Backend(), "host1", state); err != nil {
				t.Fatal(err)
			}
			f := newFleetFixture(t, fleet, poolSpec(proxy), haproxyPools)
			f.build("1")
			f.seed("1")
			f.build("2")
			rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			for i, h := range fleet.Hosts {
				if got := f.link(i, "current"); got != "releases/2" {
					t.Errorf("%s: current -> %q, want releases/2", h.Name, got)
				}
			}
			for _, tt := range []struct{ server, want string }{{"host0", haproxy.StateReady}, {"host1", haproxy.StateMaint}} {
				st, err := hap.ServerState(context.Background(), proxy.Backend(), tt.server)
				if err != nil {
					t.Fatal(err)
				}
				if st.Admin != tt.want {
					t.Errorf("%s: got admin state %s after the deploy, want %s", tt.server, st.Admin, tt.want)
				}
			}
			if want := "host1 was in " + state + " in the load balancer before this deploy"; !f.sawNote(rec.ID, want) {
				t.Errorf("no note saying %q; notes %q", want, f.notes(rec.ID))
			}
		})
	}
}

// TestFleetDeployReadiesAHostTheLastRunLeftOut: a host the last deploy
// left in maint (it failed on its first release, with nothing to go back
// to) is not taken for one someone took out: deploying a fixed build puts
// it back into rotation, as the failed deploy's reply promised.
func TestFleetDeployReadiesAHostTheLastRunLeftOut(t *testing.T) {
	fleet := startFleet(t, 2)
	proxy, hap := upstreams(t, fleet)
	spec := poolSpec(proxy)
	spec.health = sickableCmd
	spec.healthTime = "1s"
	spec.env = append(spec.env, "max_failures: 1")
	f := newFleetFixture(t, fleet, spec, haproxyPools)
	if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.build("1")
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomePartial)
	if hr := hostResult(t, rec, "host1"); hr.State != deploy.HostFailed || hr.Current != "1" {
		t.Fatalf("deploy 1: host1 %s on %q, want failed on 1 (%s)", hr.State, hr.Current, hr.Error)
	}
	if st, err := hap.ServerState(context.Background(), proxy.Backend(), "host1"); err != nil || st.Admin != haproxy.StateMaint {
		t.Fatalf("after deploy 1: host1 %+v, %v; want it left in maint", st, err)
	}

	f.build("2")
	rec = f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	for _, server := range []string{"host0", "host1"} {
		st, err := hap.ServerState(context.Background(), proxy.Backend(), server)
		if err != nil {
			t.Fatal(err)
		}
		if st.Admin != haproxy.StateReady {
			t.Errorf("%s: got admin state %s after deploy 2, want %s", server, st.Admin, haproxy.StateReady)
		}
	}
	if notes := f.notes(rec.ID); slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "in the load balancer before") }) {
		t.Errorf("deploy 2 took host1 for a host someone took out: notes %q", notes)
	}
}

// TestFleetDeployReadiesAHostAnEarlierRunLeftOut: a host a deploy left in
// maint stays the runs' to put back when the next deploy stopped before
// reaching it (its canary failed): the deploy after that took the host for
// one someone took out, because the last run to switch any host had not
// switched it, and left it out of rotation for good, saying it was not
// left there by a run.
func TestFleetDeployReadiesAHostAnEarlierRunLeftOut(t *testing.T) {
	fleet := startFleet(t, 2)
	proxy, hap := upstreams(t, fleet)
	spec := poolSpec(proxy)
	spec.health = sickableCmd
	spec.healthTime = "1s"
	spec.env = append(spec.env, "max_failures: 1", "canary: 1")
	f := newFleetFixture(t, fleet, spec, haproxyPools)
	sick := func(i int, build string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(fleet.Hosts[i].Root, "sick-"+build), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sick(1, "1")
	f.build("1")
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomePartial)
	if hr := hostResult(t, rec, "host1"); hr.State != deploy.HostFailed {
		t.Fatalf("deploy 1: host1 %s (%s), want failed", hr.State, hr.Error)
	}
	if st, err := hap.ServerState(context.Background(), proxy.Backend(), "host1"); err != nil || st.Admin != haproxy.StateMaint {
		t.Fatalf("after deploy 1: host1 %+v, %v; want it left in maint", st, err)
	}

	// The canary, host0, fails build 2: the deploy stops before host1.
	sick(0, "2")
	f.build("2")
	rec = f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	if got := f.stepsOf(rec.ID, "host1"); slices.Contains(got, deploy.StepActivate) {
		t.Fatalf("deploy 2 switched host1 (%v), want it stopped at the canary", got)
	}

	f.build("3")
	rec = f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	for _, server := range []string{"host0", "host1"} {
		st, err := hap.ServerState(context.Background(), proxy.Backend(), server)
		if err != nil {
			t.Fatal(err)
		}
		if st.Admin != haproxy.StateReady {
			t.Errorf("%s: got admin state %s after deploy 3, want %s", server, st.Admin, haproxy.StateReady)
		}
	}
	if notes := f.notes(rec.ID); slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "in the load balancer before") }) {
		t.Errorf("deploy 3 took host1 for a host someone took out: notes %q", notes)
	}
}

// TestFleetDryRunChecksThePool: the dry run of a deploy says what the
// deploy would do with the load balancer: refuse it when unusable, leave
// a host someone took out of rotation out. It said "deliver and switch"
// for every host either way.
func TestFleetDryRunChecksThePool(t *testing.T) {
	fleet := startFleet(t, 2)
	proxy, hap := upstreams(t, fleet)
	if err := hap.SetState(context.Background(), proxy.Backend(), "host1", haproxy.StateMaint); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		socket  string
		wantErr string            // the refusal, or "" for a plan
		want    map[string]string // in each host's change
	}{
		{name: "usable", socket: "tcp:" + proxy.StatsAddr(), want: map[string]string{
			"host0": "deliver and switch 1 → 2",
			"host1": "deliver and switch 1 → 2; in maint in the load balancer, not left there by the last run: stays out of rotation, in maint",
		}},
		{name: "unreachable", socket: "tcp:" + freeLoopbackAddr(t), wantErr: "cannot reach the haproxy stats socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := poolSpec(proxy)
			spec.env[2] = "    socket: " + yq(tt.socket)
			f := newFleetFixture(t, fleet, spec, haproxyPools)
			f.build("1")
			if tt.name == "usable" {
				f.seed("1")
			}
			f.build("2")
			plan, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(errs.Message(err), tt.wantErr) || !strings.Contains(errs.Message(err), "a deploy would be refused") {
					t.Fatalf("got plan %+v, error %v; want it refused: %s", plan, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			for _, hp := range plan.Hosts {
				if hp.Change != tt.want[hp.Host] {
					t.Errorf("%s: got change %q, want %q", hp.Host, hp.Change, tt.want[hp.Host])
				}
			}
			if !slices.ContainsFunc(plan.Steps, func(s string) bool { return strings.Contains(s, "drained from the load balancer") }) {
				t.Errorf("no step says the hosts are drained: %q", plan.Steps)
			}
		})
	}
}
