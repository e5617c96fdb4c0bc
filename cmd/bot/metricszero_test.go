package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployCountersStartAtZero: a started bot has the deploy and
// rollback counters of every app/env of its config at 0. A series first
// seen at 1 has no earlier sample, so increase() and rate() miss the
// increment that made it: an alert on failed deploys would miss the first
// failure of each app/env after every restart of every replica.
func TestDeployCountersStartAtZero(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	cfg := filepath.Join(dir, "switchman.yaml")
	yaml := "bot:\n  listen: " + addr + "\n" + minimalServeYAML
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	bot := serveBot(t, cfg, addr)
	resp, err := http.Get(bot.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`switchman_deploys_total{app="web",env="prod",outcome="succeeded"} 0`,
		`switchman_deploys_total{app="web",env="prod",outcome="failed"} 0`,
		`switchman_deploys_total{app="web",env="prod",outcome="reverted"} 0`,
		`switchman_deploys_total{app="web",env="prod",outcome="interrupted"} 0`,
		`switchman_rollbacks_total{app="web",env="prod",outcome="succeeded"} 0`,
		`switchman_rollbacks_total{app="web",env="prod",outcome="failed"} 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := bot.stop(t); err != nil {
		t.Errorf("serve: got %v, want nil after a shutdown", err)
	}
}
