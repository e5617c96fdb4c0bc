package errs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

func TestErrorText(t *testing.T) {
	host := errors.New("health on web1: not healthy after 5s: answered 500")
	quoted := Wrap(Unavailable, host, "%v", host)
	undo := New(Conflict, "to undo it: %s", suggest.Command("rollback web prod"))
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no cause", New(Invalid, "unknown app"), "unknown app"},
		{"cause not quoted", Wrap(Unavailable, errors.New("dial tcp: refused"), "state store unreachable"), "state store unreachable: dial tcp: refused"},
		{"cause quoted whole", quoted, "health on web1: not healthy after 5s: answered 500"},
		{
			"every layer quotes the one below",
			Wrap(Unavailable, quoted, "%s; release 3 marked bad; switched back to 2 on web1", Message(quoted)),
			"health on web1: not healthy after 5s: answered 500; release 3 marked bad; switched back to 2 on web1",
		},
		{
			"detail below a quoted message is kept",
			Wrap(Unavailable, Wrap(Unavailable, errors.New("EOF"), "web1 hung up"), "deliver failed: %s", "web1 hung up"),
			"deliver failed: web1 hung up: EOF",
		},
		{"wrapped by fmt", fmt.Errorf("run: %w", quoted), "run: health on web1: not healthy after 5s: answered 500"},
		// The marks of a suggested command are for chat, not for logs.
		{"suggestion", New(Conflict, "to undo it: %s", suggest.Command("rollback web prod")), "to undo it: rollback web prod"},
		{
			"a layer quotes a suggestion",
			Wrap(Conflict, undo, "cancel refused: %v", undo),
			"cancel refused: to undo it: rollback web prod",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
