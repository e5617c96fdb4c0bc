package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// failingReader fails its first read with err, as an artifact source
// does that loses its store mid-stream.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// TestSessionErrorsHideSecrets: every error of a host's session reaches
// the progress, the record, the replies, the audit log and the log, not
// only a script's exit status. An error that quotes a secret the config
// holds (an artifact source's error naming its token, under a failed
// read of the script's input) has it hidden, and still wraps what it
// wrapped.
func TestSessionErrorsHideSecrets(t *testing.T) {
	const token = "sntrys_0a1b2c3d4e5f"
	errStore := errors.New("artifact store unreachable")
	tests := []struct {
		name  string
		cmd   deploy.Command
		shown string // what the error says
		is    error  // what it still wraps, if not nil
		exit  int    // the ExitError's code, if it is one
	}{
		{
			name:  "failed read of the script's input",
			cmd:   deploy.Command{Script: "cat >/dev/null", Stdin: failingReader{fmt.Errorf("fetch with token %s: %w", token, errStore)}},
			shown: "local: read stdin: fetch with token REDACTED: artifact store unreachable",
			is:    errStore,
		},
		{
			name:  "script exits non-zero",
			cmd:   deploy.Command{Script: "echo PGPASSWORD=" + token + " >&2; exit 3"},
			shown: "exit status 3: PGPASSWORD=REDACTED",
			exit:  3,
		},
	}
	tr := deploy.HidingTransport(&local.Transport{}, token)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tr.Open(context.Background(), deploy.Host{Name: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Run(context.Background(), tc.cmd)
			if err == nil {
				t.Fatal("got no error, want one")
			}
			if got := strings.TrimSpace(err.Error()); got != tc.shown {
				t.Errorf("got %q, want %q", got, tc.shown)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) is false, want true", err, tc.is)
			}
			var exit *deploy.ExitError
			if got := errors.As(err, &exit); got != (tc.exit != 0) {
				t.Errorf("errors.As(%v, *ExitError) is %t, want %t", err, got, tc.exit != 0)
			} else if got && exit.Code != tc.exit {
				t.Errorf("got exit code %d, want %d", exit.Code, tc.exit)
			}
		})
	}
}
