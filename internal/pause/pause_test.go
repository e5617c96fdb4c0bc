package pause

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"waits", context.Background(), 10 * time.Millisecond, nil},
		{"nothing to wait", context.Background(), 0, nil},
		{"negative", context.Background(), -time.Second, nil},
		{"context done", done, time.Hour, context.Canceled},
		{"context done, nothing to wait", done, 0, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := For(tt.ctx, tt.d)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == nil && time.Since(start) < tt.d {
				t.Errorf("returned after %s, before the %s passed", time.Since(start), tt.d)
			}
		})
	}
}
