package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat/discord"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/server"
)

// auditHandler runs nothing it is not expected to, and records the
// refusals it is asked to audit.
type auditHandler struct {
	t       *testing.T
	mu      sync.Mutex
	refused []commands.Request
}

func (h *auditHandler) Handle(_ context.Context, req commands.Request, _ commands.Output) commands.Outcome {
	h.t.Errorf("command %q run while the bot was stopping", req.Text)
	return commands.Outcome{}
}

func (h *auditHandler) AuditRefusal(_ context.Context, req commands.Request) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refused = append(h.refused, req)
	return nil
}

func (h *auditHandler) AuditDroppedReply(_ context.Context, req commands.Request, _, _ string) error {
	h.t.Errorf("reply to %q dropped: none was expected of a command not run", req.Text)
	return nil
}

func (h *auditHandler) NoteUndelivered(commands.Undelivered) {}

func (h *auditHandler) refusals() []commands.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]commands.Request(nil), h.refused...)
}

// TestDiscordAnsweredWhileDraining: a Discord interaction that reaches a
// stopping bot is not run, and, as Discord sends it once, its sender is
// told so ("restarting") and it is audited as refused, rather than shown
// "This interaction failed" by a bare 503 with no trace of it.
func TestDiscordAnsweredWhileDraining(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := &auditHandler{t: t}
	da, err := discord.New(discord.Options{PublicKey: hex.EncodeToString(pub), ApplicationID: "100000000000000001", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	draining, release := make(chan struct{}), make(chan struct{})
	url, s, stop := start(t, server.Options{Drain: func() { close(draining); <-release }})
	s.Handle("POST /discord/interactions", da)
	errc := make(chan error, 1)
	go func() { errc <- stop() }()
	<-draining

	body := `{"id":"500","application_id":"100000000000000001","type":2,"token":"itok","version":1,"channel_id":"300",` +
		`"member":{"user":{"id":"111","username":"ana"}},"data":{"id":"9","name":"status","type":1}}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, url+"/discord/interactions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, []byte(ts+body))))
	req.Header.Set("X-Signature-Timestamp", ts)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "restarting, so nothing was run") {
		t.Errorf("interaction during the drain: got %d %s, want 200 telling its sender that nothing was run", resp.StatusCode, b)
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := da.Shutdown(shut); err != nil { // waits for the audit writes
		t.Fatal(err)
	}
	if got := h.refusals(); len(got) != 1 || got[0].Refused == "" || got[0].Platform != discord.Platform {
		t.Errorf("audited refusals: got %+v, want the interaction refused", got)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}
