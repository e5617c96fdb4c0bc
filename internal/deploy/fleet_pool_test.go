package deploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	haproxytest "github.com/switchman-bot/switchman/internal/testenv/haproxy"
)

// TestFleetUnusablePoolRefusesTheDeploy: a load balancer the deploy could
// not drain a host from (its stats socket unreachable, the backend or a
// host's server unknown to it) refuses the deploy before any host
// switches, saying why. Found only at the first host's drain, after its
// switch, it failed that host, marked the build bad for it, and left the
// host "could NOT switch back" for a switch back that drains it too.
func TestFleetUnusablePoolRefusesTheDeploy(t *testing.T) {
	tests := []struct {
		name    string
		socket  func(p *haproxytest.Proxy) string
		backend string
		server  string
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fleet := startFleet(t, 2)
			// host0 is in the backend under every name the cases use;
			// host1 only under its own.
			proxy := haproxytest.Start(t, haproxytest.Options{Servers: map[string]string{
				"host0": freeLoopbackAddr(t), "web-host0": freeLoopbackAddr(t), "host1": freeLoopbackAddr(t),
			}})
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
