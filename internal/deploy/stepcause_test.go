package deploy

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchman-bot/switchman/internal/errs"
)

// TestStepCause: the cause of a failed step is found however deep its
// error lies, so a wrap added on the way does not bring the step and the
// host back into a message that names them already.
func TestStepCause(t *testing.T) {
	exit := errors.New("exit status 1: relation \"users\" does not exist")
	step := stepFailed(StepMigrate, "web1", exit)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"the step's error", step, exit.Error()},
		{"wrapped once", fmt.Errorf("migrate: %w", step), exit.Error()},
		{"wrapped twice", fmt.Errorf("deploy: %w", fmt.Errorf("migrate: %w", step)), exit.Error()},
		{"wrapped by errs", errs.Wrap(errs.Unavailable, fmt.Errorf("migrate: %w", step), "migrations failed"), exit.Error()},
		{"joined", errors.Join(errors.New("lease renewed late"), step), exit.Error()},
		{"no step", errors.New("no host is left"), "no host is left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stepCause(tt.err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStepErrorNamesHostOnce: a failed step names its host, and the SSH
// transport's error inside it names the host too, with its address or
// without: a host's record read "deliver on host0: ssh: host0: session
// closed". The step names the host once, with the address when the error
// gave it (naming the host once had dropped it, which whoever has to
// reach the host needs); what the error says of another host, or before
// its naming, stays.
func TestStepErrorNamesHostOnce(t *testing.T) {
	tests := []struct {
		name, host, err, want, cause string
	}{
		{"named alone", "host0", "ssh: host0: session closed", "deliver on host0: session closed", "session closed"},
		{"named with its address", "web1", "ssh: web1 (10.0.0.5:22): connection lost: EOF", "deliver on web1 (10.0.0.5:22): connection lost: EOF", "connection lost: EOF"},
		{"named further in", "host0", "read stdin: ssh: host0: stdin: broken pipe", "deliver on host0: read stdin: stdin: broken pipe", "read stdin: stdin: broken pipe"},
		{"named with its address further in", "web1", "read stdin: ssh: web1 (10.0.0.5:22): stdin: broken pipe", "deliver on web1 (10.0.0.5:22): read stdin: stdin: broken pipe", "read stdin: stdin: broken pipe"},
		{"not named", "web1", "exit status 2: tar: unexpected EOF", "deliver on web1: exit status 2: tar: unexpected EOF", "exit status 2: tar: unexpected EOF"},
		{"another host named", "web1", "ssh: web10: session closed", "deliver on web1: ssh: web10: session closed", "ssh: web10: session closed"},
		{"named by a script with a process", "web1", "exit status 1: supervisor: web1 (pid 42): exited",
			"deliver on web1: exit status 1: supervisor: web1 (pid 42): exited", "exit status 1: supervisor: web1 (pid 42): exited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := errors.New(tt.err)
			err := stepFailed(StepDeliver, tt.host, inner)
			if got := err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !errors.Is(err, inner) {
				t.Errorf("got %v, which does not wrap %v", err, inner)
			}
			if got := stepCause(fmt.Errorf("deploy: %w", err)); got != tt.cause {
				t.Errorf("cause: got %q, want %q", got, tt.cause)
			}
		})
	}
}
