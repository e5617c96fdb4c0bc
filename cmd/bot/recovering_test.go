package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestServeAnswersWhileRecovering: a deploy a stopped process left
// running is recovered at start: its hosts are read, and one that
// accepts the connection and never answers holds the recovery for up to
// the connect timeout. The bot recovered before it served anything, so
// /healthz went unanswered meanwhile, past an orchestrator's probes,
// which would restart it, at every start. It now answers from the start,
// with 200 and status "recovering", and "ok" once the recovery is done.
func TestServeAnswersWhileRecovering(t *testing.T) {
	fleet := sshd.StartFleet(t, 1, sshd.Options{})
	silent, accepted := sshd.Silent(t)
	dir, addr := t.TempDir(), freePort(t)
	y := fmt.Sprintf("bot:\n  listen: %s\nstore:\n  path: state.db\napps:\n  web:\n    artifact:\n      path: artifacts/{app}-{build}.tar.gz\n"+
		"    path: /srv/web\n    restart: 'true'\n    environments:\n      prod:\n        transport: ssh\n"+
		"        ssh: {user: %s, key_file: %q, known_hosts: %q, connect_timeout: 8s}\n        hosts:\n          - hung=%s\n",
		addr, fleet.User, fleet.ClientKey, fleet.KnownHosts, silent)
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	// The record a process killed mid-deploy left.
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-time.Minute)
	if err := st.PutRecord(t.Context(), &deploy.Record{ID: "20260101-000000-dead01", Kind: deploy.KindDeploy, App: "web", Env: "prod",
		Build: "2", Owner: "ana", Started: started, Outcome: deploy.OutcomeRunning}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	bot := startServe(t, cfg, addr)
	// The recovery reads the hung host, and waits.
	deadline := time.Now().Add(30 * time.Second)
	for accepted() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the recovery never reached the host; log:\n%s", bot.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(bot.base + "/healthz")
	if err != nil {
		t.Fatalf("/healthz while the recovery waits for a host: %v; want an answer", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"recovering"`) {
		t.Errorf("/healthz while recovering: got %d %s, want 200 with status recovering", resp.StatusCode, body)
	}
	pollHTTP(t, bot.base+"/healthz", func(code int, body string) bool { return code == 200 && strings.Contains(body, `"status":"ok"`) })
	if err := bot.stop(t); err != nil {
		t.Errorf("serve: got %v, want nil after a shutdown", err)
	}
	if log := bot.stderr.String(); !strings.Contains(log, "deploy interrupted") {
		t.Errorf("log lacks the deploy recovered as interrupted:\n%s", log)
	}
}
