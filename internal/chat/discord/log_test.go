package discord

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/redact"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestSetLoggerTakesDiscordgosLines: what discordgo logs itself (here the
// gateway it could not dial, its URL quoted with a password) reaches the
// log SetLogger was given, and so the bot's redaction, rather than
// standard error.
func TestSetLoggerTakesDiscordgosLines(t *testing.T) {
	var out syncbuf.Buffer
	SetLogger(slog.New(slog.NewTextHandler(redact.NewSecrets().Writer(&out), nil)))
	// discordgo's logger is the process's: the tests after this one log
	// nowhere rather than here.
	t.Cleanup(func() { SetLogger(slog.New(slog.DiscardHandler)) })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there: the dial is refused
	hs := newHarness(t, nil, nil)
	hs.fd.gatewayURL = "ws://bot:hunter2@" + closed
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.a.RunGateway(ctx) }()
	waitFor(t, "discordgo's line in the log", func() bool { return strings.Contains(out.String(), "component=discordgo") })
	cancel()
	<-done

	got := out.String()
	for _, want := range []string{"level=WARN", "error connecting to gateway ws://REDACTED@" + closed} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "hunter2") {
		t.Errorf("log %q shows the gateway's password", got)
	}
}
