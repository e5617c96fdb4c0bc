package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat/slack"
)

const drainSentryYAML = `bot:
  listen: %s
store:
  path: state.db
users:
  bob: {slack: UBOB}
deployers: [bob]
slack:
  signing_secret: drain-secret
  bot_token: xoxb-test
  api_url: %s
sentry:
  url: %s
  org: acme
  token: sntrys-test
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'sleep 2'
    environments:
      prod:
        hosts: [localhost]
        sentry: {project: web}
`

// TestDeployFinishingDuringDrainIsRegistered: a deploy that is restarting
// its app when the bot is told to stop finishes during the drain and is
// still registered with Sentry; the channel hears that nothing watches it,
// not that Sentry could not be reached.
func TestDeployFinishingDuringDrainIsRegistered(t *testing.T) {
	api := newSlackAPI(t)
	var mu sync.Mutex
	var sentryCalls []string
	sentrySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sentryCalls = append(sentryCalls, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "events-stats") {
			// Unanswered until the watch gives up on it: a watch that
			// could read its baseline before the bot closed the watches
			// would end by itself ("inconclusive"), not by the shutdown.
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{}`)
	}))
	defer sentrySrv.Close()
	called := func(sub string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range sentryCalls {
			if strings.Contains(c, sub) {
				return true
			}
		}
		return false
	}
	dir, addr := t.TempDir(), freePort(t)
	if err := os.MkdirAll(filepath.Join(dir, "artifacts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "artifacts", "web-1.tar.gz"), tarballOf(t, "1"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, drainSentryYAML, addr, api.srv.URL+"/api/", sentrySrv.URL), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncWriter
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", cfg, "serve"}, stdio{In: strings.NewReader(""), Out: io.Discard, Err: &stderr})
	}()
	base := "http://" + addr
	pollHTTP(t, base+"/healthz", func(code int, body string) bool { return code == http.StatusOK })
	body := url.Values{"command": {"/deploy"}, "text": {"web 1"}, "user_id": {"UBOB"}, "channel_id": {"C1"}, "trigger_id": {"T1"}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.Sign("drain-secret", ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The release is created as the deploy starts; the restart then takes
	// 2 s, during which the bot is told to stop.
	deadline := time.Now().Add(20 * time.Second)
	for !called("/releases/") {
		if time.Now().After(deadline) {
			t.Fatalf("no release created; log:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the bot did not stop")
	}
	if !hasCallPrefix(api.calls(), "chat.update C1: ✔ Deploy ") {
		t.Errorf("the deploy did not finish during the drain; calls %q", api.calls())
	}
	if !called("/deploys/") {
		t.Errorf("the deploy was never registered with Sentry; calls %v", sentryCalls)
	}
	for _, c := range api.calls() {
		if strings.Contains(c, "Sentry could not") {
			t.Errorf("the channel was told Sentry failed: %q", c)
		}
	}
	if !hasCall(api.calls(), "the bot is shutting down") {
		t.Errorf("the channel was not told nothing watches the deploy; calls %q", api.calls())
	}
}

func hasCall(calls []string, sub string) bool {
	for _, c := range calls {
		if strings.Contains(c, sub) {
			return true
		}
	}
	return false
}
