package console

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat/chattest"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// deployer is a Handler whose deploys run until the bot stops. It records
// the commands it runs and the refusals it is asked to audit.
type deployer struct {
	chattest.Refusals
	deploying chan struct{} // closed as the first deploy starts

	mu  sync.Mutex
	got []string
}

func (d *deployer) Handle(_ context.Context, req commands.Request, _ commands.Output) commands.Outcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, req.Text)
	if strings.HasPrefix(req.Text, "deploy") {
		close(d.deploying)
		return commands.Outcome{DeployID: "d1"}
	}
	return commands.Outcome{}
}

func (d *deployer) ran() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.got...)
}

// TestStopWithALineRead: a script's next line, read while a deploy runs,
// is not run once the bot is told to stop; it is not lost either: the
// console says it was not run, and it is audited as refused because the
// bot was stopping.
func TestStopWithALineRead(t *testing.T) {
	in, script := io.Pipe()
	defer script.Close()
	h := &deployer{deploying: make(chan struct{})}
	var out syncbuf.Buffer
	c := &Console{In: in, Out: &out, User: "alice", Handler: h}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan bool, 1)
	go func() { done <- c.Run(ctx) }()

	if _, err := io.WriteString(script, "deploy demo 1\n"); err != nil {
		t.Fatal(err)
	}
	<-h.deploying
	// Written once the console has read it, while the deploy runs.
	if _, err := io.WriteString(script, "status\n"); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, c, "status")
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once told to stop")
	}

	if got := h.ran(); len(got) != 1 || got[0] != "deploy demo 1" {
		t.Errorf("ran %q, want the deploy alone", got)
	}
	if got := h.Audited(); len(got) != 1 || got[0].User != "alice" || got[0].Platform != "console" || got[0].Text != "status" ||
		got[0].Refused != reasonStopping || got[0].RefusedFor != commands.RefusalDraining {
		t.Errorf("audited %+v, want alice's \"status\" refused saying %q, counted as draining", got, reasonStopping)
	}
	if want := `Switchman is stopping, so "status" was not run.`; !strings.Contains(out.String(), want) {
		t.Errorf("output %q, want it to say %q", out.String(), want)
	}
}

// waitHeld waits until the console's reader holds line, read and not yet
// taken.
func waitHeld(t *testing.T, c *Console, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		held := c.held != nil && *c.held == line
		c.mu.Unlock()
		if held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the console to read %q", line)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestExitStatusOfDeploysGivenUp: at a terminal, commands go on while a
// deploy runs. If the stop gives up waiting for that deploy (Wait returns
// with it unfinished), the console fails whatever the last command was:
// the deploy was left half-done.
func TestExitStatusOfDeploysGivenUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   bool
	}{
		{"the deploy last", "deploy demo 1\n", false},
		{"a status after the deploy", "deploy demo 1\nstatus\n", false},
		{"no deploy", "status\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &deployer{deploying: make(chan struct{})}
			var out syncbuf.Buffer
			c := &Console{In: strings.NewReader(tc.script), Out: &out, User: "alice", Handler: h, Interactive: true,
				Wait: func() {}} // gave up on the running deploys at once
			if got := c.Run(t.Context()); got != tc.want {
				t.Errorf("Run after %q = %v, want %v; output:\n%s", tc.script, got, tc.want, out.String())
			}
		})
	}
}
