package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
)

// TestWatchResumedAfterRestart: the bot watching build 2 for a spike is
// stopped mid-watch (a redeploy of the bot) and says the watch is paused;
// the bot started next over the same store resumes it, in the deploy's
// channel, and rolls back by itself on the spike that came meanwhile.
func TestWatchResumedAfterRestart(t *testing.T) {
	api := newSlackAPI(t)
	sn := newSpikingSentry(t)
	sn.manual = true
	dir, addr := t.TempDir(), freePort(t)
	for _, b := range []string{"1", "2"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tarballOf(t, b))
	}
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, drainYAML, addr, api.srv.URL+"/api/", sn.srv.URL, "'true'",
		"        channel: C-PROD\n        sentry: {project: web, interval: 1s, consecutive: 2, watch: 10m, auto_rollback: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, bot *served, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened; calls %q\nlog:\n%s", what, api.calls(), bot.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	deployed := func(n int) func() bool {
		return func() bool {
			k := 0
			for _, c := range api.calls() {
				// Edited into the progress message, or posted whole
				// when the deploy ended before it was.
				if strings.HasPrefix(c, "chat.update C-PROD: ✔ Deploy ") || strings.HasPrefix(c, "chat.postMessage C-PROD: ✔ Deploy ") {
					k++
				}
			}
			return k >= n
		}
	}

	bot := serveBot(t, cfg, addr)
	postSlash(t, bot.base, "drain-secret", slashBody("web 1", "T1")).Body.Close()
	waitFor("the deploy of build 1", bot, deployed(1))
	postSlash(t, bot.base, "drain-secret", slashBody("web 2", "T2")).Body.Close()
	waitFor("the deploy of build 2", bot, deployed(2))
	// Its watch has read its baseline and judged an interval: it is saved.
	since := time.Now().Add(-time.Second)
	waitFor("the watch of build 2", bot, func() bool { return sn.readsFrom(since) > 0 })
	if err := bot.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !hasCall(api.calls(), "Error watch of web 2 on prod paused: the bot is shutting down") {
		t.Errorf("the channel was not told the watch is paused; calls %q", api.calls())
	}
	sn.spike()

	bot = serveBot(t, cfg, addr)
	waitFor("the automatic rollback by the restarted bot", bot, func() bool {
		return hasCall(api.calls(), "Rolled back web/prod to 1 by itself (succeeded)")
	})
	if err := bot.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	calls := api.calls()
	for _, want := range []string{
		"chat.postMessage C-PROD: Error watch of web 2 on prod resumed from",
		"auto_rollback is on for web/prod: rolling back now",
	} {
		if !hasCall(calls, want) {
			t.Errorf("calls lack %q: %q", want, calls)
		}
	}
}
