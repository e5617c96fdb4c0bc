package commands_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestCancelledFirstDeploySaysWhereItLeftTheBuild: a first deploy
// cancelled once its host switched has nothing to switch it back to, and
// the host stays on the build. Its report, status, history and the audit
// log said "cancelled" alone, which reads as nothing changed: each must
// say where it left the build. The record keeps its outcome.
func TestCancelledFirstDeploySaysWhereItLeftTheBuild(t *testing.T) {
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "gate")
	yaml := strings.Replace(serviceYAML, "restart: 'true'", "restart: 'touch "+started+"; while [ ! -e "+gate+" ]; do sleep 0.05; done'", 1)
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-1.tar.gz"), tgz(t, map[string]string{"BUILD": "1"}))
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st})
	t.Cleanup(eng.Wait)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy})
	handle := func(user, text string) string {
		t.Helper()
		out := newRecorder()
		svc.Handle(t.Context(), commands.Request{User: user, Platform: "test", Channel: "C1", Text: text}, out)
		return out.last()
	}

	out := newRecorder()
	if res := svc.Handle(t.Context(), commands.Request{User: "bob", Platform: "test", Channel: "C1", Text: "deploy web 1"}, out); res.DeployID == "" {
		t.Fatalf("deploy web 1: %q; want it to start", out.last())
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restart did not start within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	handle("ana", "cancel web prod")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := <-out.finished
	if rec.Outcome != deploy.OutcomeCancelled {
		t.Fatalf("deploy: got %s (%s), want cancelled", rec.Outcome, rec.Error)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); got != "releases/1" {
		t.Fatalf("current -> %q, want releases/1", got)
	}
	const said = "cancelled, left on 1 on localhost"
	if got := commands.FinalMessage(rec, time.Now()).Title; !strings.Contains(got, "was cancelled after") || !strings.HasSuffix(got, ", left on 1 on localhost") {
		t.Errorf("report: got %q, want it to say it was cancelled, left on 1 on localhost", got)
	}
	for _, c := range []struct{ user, text, want string }{
		{"bob", "status web", said},
		{"bob", "history web prod", said},
		{"ana", "audit", "finished: " + said},
	} {
		if got := handle(c.user, c.text); !strings.Contains(got, c.want) {
			t.Errorf("%s: got %q, want it to say %q", c.text, got, c.want)
		}
	}
}
