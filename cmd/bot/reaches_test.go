package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
)

// TestRelayReaches: a bot serving Slack or Discord that goes on with an
// error watch the console left must not post to the console's channel,
// which it took for a channel of its own called "console"; the console
// prints every channel's messages, and with no chat they are logged.
func TestRelayReaches(t *testing.T) {
	slack := dropNotifier{}
	for _, tc := range []struct {
		name    string
		target  notifier
		channel string
		want    bool
	}{
		{"slack, the console's channel", slack, "console", false},
		{"slack, a slack channel", slack, "C0123ABCD", true},
		{"slack and discord, the console's channel", byPlatform{slack: slack, discord: slack}, "console", false},
		{"slack and discord, a discord channel", byPlatform{slack: slack, discord: slack}, "123456789012345678", true},
		{"the console, its channel", consoleNotifier{out: func(chat.Message) {}}, "console", true},
		{"the console, a slack channel", consoleNotifier{out: func(chat.Message) {}}, "C0123ABCD", true},
		{"no chat", nil, "console", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &relay{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if tc.target != nil {
				r.set(tc.target)
			}
			if got := r.reaches(tc.channel); got != tc.want {
				t.Errorf("reaches(%q): got %v, want %v", tc.channel, got, tc.want)
			}
		})
	}
}

// dropNotifier takes every message and does nothing with it.
type dropNotifier struct{}

func (dropNotifier) Post(context.Context, string, chat.Message) error { return nil }
