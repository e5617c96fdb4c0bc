package discord

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
)

// TestPostErrorKeepsItsCause: Post's error kept only its cause's text,
// so that whoever logged or audited it could not tell a rate limit from
// Discord refusing the post, and a Post whose context ended while it
// waited out a 429 said "context deadline exceeded" and nothing of the
// 429. The error now names the 429 it waited for and unwraps to its
// causes, and its text still holds no token.
func TestPostErrorKeepsItsCause(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		header http.Header
		check  func(t *testing.T, err error)
	}{
		{
			name:   "context ends waiting out a 429",
			status: http.StatusTooManyRequests,
			body:   `{"message":"You are being rate limited.","retry_after":30,"global":false}`,
			header: http.Header{"Retry-After": {"30"}, "X-Ratelimit-Scope": {"user"}},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false, want true", err)
				}
				if _, ok := errors.AsType[*discordgo.RateLimitError](err); !ok {
					t.Errorf("Post error %q does not unwrap to the 429 it waited for", err)
				}
				if !strings.Contains(err.Error(), "rate limit") {
					t.Errorf("Post error %q, want it to say it waited for a rate limit", err)
				}
			},
		},
		{
			name:   "Discord refuses the post",
			status: http.StatusForbidden,
			body:   `{"message":"Missing Permissions","code":50013}`,
			check: func(t *testing.T, err error) {
				re, ok := errors.AsType[*discordgo.RESTError](err)
				if !ok || re.Response == nil || re.Response.StatusCode != http.StatusForbidden {
					t.Errorf("Post error %q does not unwrap to Discord's 403", err)
				}
				if !strings.Contains(err.Error(), "Missing Permissions") {
					t.Errorf("Post error %q, want Discord's reason", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, nil, nil)
			hs.fd.respond = func(c apiCall, _ int) (int, string, bool) {
				if strings.HasPrefix(c.Path, "/api/v9/channels/") {
					return tt.status, tt.body, true
				}
				return 0, "", false
			}
			hs.fd.header = func(c apiCall) http.Header { return tt.header }
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := hs.a.Post(ctx, "301", chat.Message{Title: "Train 10:00 leaves in 15 minutes"})
			if err == nil {
				t.Fatal("Post succeeded, want an error")
			}
			if strings.Contains(err.Error(), testBotToken) {
				t.Errorf("Post error %q holds the bot token", err)
			}
			tt.check(t, err)
		})
	}
}
