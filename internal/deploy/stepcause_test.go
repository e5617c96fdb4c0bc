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
