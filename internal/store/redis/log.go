package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// SetLogger sends what go-redis itself logs (failed dials, connection pool
// trouble) to log at level Warn with "component"="redis", instead of to
// standard error. go-redis keeps one logger per process, so this applies to
// every Store, and any other go-redis client, in the process; a nil log
// changes nothing. The lines name addresses, never passwords.
func SetLogger(log *slog.Logger) {
	if log == nil {
		return
	}
	goredis.SetLogger(slogLogger{log: log})
}

// slogLogger is go-redis's logging interface written to a slog.Logger.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	// Most lines start with "redis: ", which the component already says.
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.log.WarnContext(ctx, msg, "component", "redis")
}
