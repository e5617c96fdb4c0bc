package discord

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bwmarrin/discordgo"
)

// SetLogger sends what discordgo itself logs (a gateway it could not dial,
// a heartbeat that failed, an event it could not decode) to log with
// "component"="discordgo", instead of to the standard library's log on
// standard error, which the bot's log, and the redaction of secrets it
// applies to every line, never sees: such a line quotes the gateway's URL
// and the dial's error as they are. discordgo keeps one logger per
// process, so this applies to every Adapter in the process, the last log
// given winning; a nil log changes nothing. It is safe for concurrent
// use, with sessions running too.
func SetLogger(log *slog.Logger) {
	if log == nil {
		return
	}
	discordgoLog.Store(log)
	// discordgo reads its Logger without a lock: written once, before
	// the first session that reads it, and never again.
	hookDiscordgo.Do(func() {
		discordgo.Logger = func(level, _ int, format string, a ...any) {
			msg := strings.TrimSpace(fmt.Sprintf(format, a...))
			discordgoLog.Load().Log(context.Background(), slogLevel(level), msg, "component", "discordgo")
		}
	})
}

var (
	discordgoLog  atomic.Pointer[slog.Logger]
	hookDiscordgo sync.Once
)

// slogLevel is the slog level of one of discordgo's. Its errors are
// what it could not do on its own behalf (a reconnection, a heartbeat),
// which the adapter retries or reports itself: warnings here.
func slogLevel(level int) slog.Level {
	switch level {
	case discordgo.LogError, discordgo.LogWarning:
		return slog.LevelWarn
	case discordgo.LogInformational:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
