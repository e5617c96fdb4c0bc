package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// TestSayStopping: the line on how the bot stops is written when a signal
// ended the context, and not when main stopped it after run returned on
// its own (a failed start), which no signal asked for.
func TestSayStopping(t *testing.T) {
	tests := []struct {
		name   string
		signal bool
		want   bool
	}{
		{"run returned", false, false},
		{"signal", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGUSR1)
			defer stop()
			if tt.signal {
				if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
					t.Fatal(err)
				}
				<-ctx.Done()
			}
			stop()
			var out bytes.Buffer
			sayStopping(ctx, &out)
			if got := strings.Contains(out.String(), "stopping once running deploys finish"); got != tt.want {
				t.Errorf("got %q: says it is stopping: %v, want %v", out.String(), got, tt.want)
			}
		})
	}
}
