package deploy

import (
	"context"
	"log/slog"
)

type logKey struct{}

// WithLog returns ctx carrying log, the logger of the run (its deploy id,
// app and env on every line) that the transport works for: a transport
// logs for many runs at once, and its lines must say whose they are.
func WithLog(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, log)
}

// LogFrom returns the logger ctx carries (see WithLog), or def.
func LogFrom(ctx context.Context, def *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return def
}
