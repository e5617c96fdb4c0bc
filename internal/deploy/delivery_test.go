package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// hostHooks is a local fleet (see hostDirs) whose push deliveries a test
// can tamper with: before may change a host's delivery command, and after
// runs once it has ended.
type hostHooks struct {
	hostDirs
	before func(host string, cmd *deploy.Command)
	after  func(host string)
}

func (m *hostHooks) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := m.hostDirs.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return &hookedSession{Session: s, host: h.Name, m: m}, nil
}

type hookedSession struct {
	deploy.Session
	host string
	m    *hostHooks
}

func (s *hookedSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if cmd.Stdin == nil {
		return s.Session.Run(ctx, cmd)
	}
	if s.m.before != nil {
		s.m.before(s.host, &cmd)
	}
	out, err := s.Session.Run(ctx, cmd)
	if s.m.after != nil {
		s.m.after(s.host)
	}
	return out, err
}

// localFleet is a fixture whose hosts each live in a directory of
// their own, reached through tr; env holds more lines of the env's
// config ("parallel: 1"), artifact replaces the app's artifact line
// when set.
func localFleet(t *testing.T, tr *hostHooks, artifact string, env []string, hosts ...string) *fixture {
	t.Helper()
	root := filepath.Join(t.TempDir(), "web")
	var b strings.Builder
	b.WriteString("        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n")
	for _, l := range env {
		b.WriteString("        " + l + "\n")
	}
	b.WriteString("        hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "          - {name: %s, address: '%s:22'}\n", h, h)
	}
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n", b.String(), 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	if artifact != "" {
		yaml = strings.Replace(yaml, "      path: artifacts/{app}-{build}.tar.gz\n", "      "+artifact+"\n", 1)
	}
	tr.configured = root
	f := newFixtureWith(t, yaml, func(o *deploy.Options) { o.Transports["ssh"] = tr })
	tr.app = f.app
	return f
}

// hostPath is rel in host's directory of a fleet fixture.
func (f *fixture) hostPath(host, rel string) string {
	return filepath.Join(f.app+"-"+host, rel)
}

// TestRepublishedArtifactFailsLaterWaves: without a published checksum,
// the hosts of later push waves must get the bytes the first wave
// verified. An artifact republished after the first wave fails the
// deploy, and no host keeps either version under the build's id.
func TestRepublishedArtifactFailsLaterWaves(t *testing.T) {
	tr := &hostHooks{}
	f := localFleet(t, tr, "", []string{"parallel: 1", "max_failures: 0"}, "a", "b")
	art := filepath.Join(f.arts, "web-1.tar.gz")
	f.build("1")
	if err := os.Remove(art + ".sha256"); err != nil {
		t.Fatal(err)
	}
	other := tarball(t, false, tarEntry{name: "BUILD", body: "1"}, tarEntry{name: "REBUILT", body: "yes"})
	var once sync.Once
	tr.after = func(host string) {
		once.Do(func() {
			if err := os.WriteFile(art, other, 0o644); err != nil {
				t.Errorf("republish: %v", err)
			}
		})
	}

	rec, err := f.run(deploy.KindDeploy, "1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, "the artifact of build 1 changed during the deploy: checksum mismatch") {
		t.Errorf("got outcome %s, error %q; want failed, the artifact changed during the deploy", rec.Outcome, rec.Error)
	}
	for _, h := range []string{"a", "b"} {
		if _, err := os.Stat(f.hostPath(h, "releases/1")); err == nil {
			t.Errorf("%s keeps releases/1 after the artifact changed", h)
		}
		if _, err := os.Lstat(f.hostPath(h, "current")); err == nil {
			t.Errorf("%s switched", h)
		}
	}

	// Deployed again, every host gets the artifact as it is now.
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	for _, h := range []string{"a", "b"} {
		if _, err := os.Stat(f.hostPath(h, "releases/1/REBUILT")); err != nil {
			t.Errorf("%s: %v; want the release of the rebuilt artifact", h, err)
		}
	}
}
