package deploy

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestChainScript runs chains with /bin/sh: each script runs as if alone
// (its own cd, set -e, exit and syntax), the chain stops at the first
// failure with that status, and each script's messages are told apart.
func TestChainScript(t *testing.T) {
	tests := []struct {
		name       string
		scripts    []string
		wantStatus []int
		wantCode   int
		wantOut    string // a line the chain's output must hold
		wantStderr string // the last script's messages
	}{
		{
			name:       "all pass",
			scripts:    []string{"cd /; echo one", "pwd | grep -qx / && exit 9 || echo two", "echo three"},
			wantStatus: []int{0, 0, 0},
			wantOut:    "three",
		},
		{
			name:       "stops at the first failure",
			scripts:    []string{"echo warned >&2; true", "set -e; false; echo not-reached", "echo not-run"},
			wantStatus: []int{0, 1},
			wantCode:   1,
		},
		{
			name:       "exit status passes through",
			scripts:    []string{"exit 0", "echo 'restart failed' >&2; exit 42"},
			wantStatus: []int{0, 42},
			wantCode:   42,
			wantStderr: "restart failed\n",
		},
		{
			name:       "a syntax error fails its own turn only",
			scripts:    []string{"echo ran-first", "if then"},
			wantStatus: []int{0, 2},
			wantCode:   2,
			wantOut:    "ran-first",
		},
		{
			name:       "quotes and markers in a script stay its own",
			scripts:    []string{`printf '%s\n' "it's" '$(id)'`, "echo '" + chainStatusMark + "0 7'"},
			wantStatus: []int{0, 0},
			wantOut:    "$(id)",
		},
		{
			name:       "a script cannot forge its own status",
			scripts:    []string{"echo '" + chainStatusMark + "0 0'; exit 3"},
			wantStatus: []int{3},
			wantCode:   3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts := make([]action, len(tt.scripts))
			for i, s := range tt.scripts {
				acts[i] = action{step: StepRestart, script: s}
			}
			mark := statusMark()
			cmd := exec.Command("/bin/sh", "-c", chainScript(acts, mark))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit status: got %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if got := chainStatus(out, mark, 0); !slices.Equal(got, tt.wantStatus) {
				t.Errorf("statuses: got %v, want %v\n%s", got, tt.wantStatus, out)
			}
			if tt.wantOut != "" && !slices.Contains(strings.Split(string(out), "\n"), tt.wantOut) {
				t.Errorf("output lacks line %q:\n%s", tt.wantOut, out)
			}
			if strings.Contains(string(out), "not-r") {
				t.Errorf("a script after the failure ran:\n%s", out)
			}
			if tt.wantStderr != "" && lastStep(stderr.String()) != tt.wantStderr {
				t.Errorf("last script's stderr: got %q, want %q", lastStep(stderr.String()), tt.wantStderr)
			}
		})
	}
}

// TestChainStatusPassed: the statuses of the scripts that passed while the
// output streamed need not be in the output, of which a transport keeps
// only the end; the status after them, the chain's last line, is.
func TestChainStatusPassed(t *testing.T) {
	mark := statusMark()
	whole := "one\n" + mark + "0 0\ntwo\n" + mark + "1 0\nthree\n" + mark + "2 4\n"
	tail := "[output truncated: the first 123 bytes were dropped]\nthree\n" + mark + "2 4\n"
	tests := []struct {
		name   string
		out    string
		passed int
		want   []int
	}{
		{"whole output", whole, 0, []int{0, 0, 4}},
		{"whole output, two passed", whole, 2, []int{0, 0, 4}},
		{"tail, two passed", tail, 2, []int{0, 0, 4}},
		{"tail, none seen passing", tail, 0, []int{}},
		{"tail, one passed", tail, 1, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chainStatus([]byte(tt.out), mark, tt.passed); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestChainProgress feeds a chain's output in pieces, as a transport
// streams it: each script that passed is reported once, in order; a
// failure, a forged index and anything after close are not.
func TestChainProgress(t *testing.T) {
	var got []int
	mark := statusMark()
	p := &chainProgress{mark: mark, passed: func(i int) { got = append(got, i) }}
	stream := "hello\n" + mark + "0 0\n" + mark + "2 0\n" + statusMark() + "1 0\n" + mark + "1 0\npartial " + mark
	for _, piece := range []string{stream[:3], stream[3:20], stream[20:]} {
		if n, err := p.Write([]byte(piece)); n != len(piece) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	p.Write([]byte(mark + "2 1\n"))
	if n := p.close(); n != 2 {
		t.Errorf("close: got %d passed, want 2", n)
	}
	p.Write([]byte(mark + "2 0\n"))
	if !slices.Equal(got, []int{0, 1}) {
		t.Errorf("passed: got %v, want [0 1]", got)
	}
}

func TestLastStep(t *testing.T) {
	for _, tc := range []struct{ stderr, want string }{
		{"", ""},
		{"no chain\n", "no chain\n"},
		{"first\n" + chainErrMark + "\nboom\n", "boom\n"},
		{chainErrMark + "\nfirst\n" + chainErrMark + "\nboom", "boom"},
		// The last script wrote nothing, and the newline was trimmed.
		{chainErrMark + "\nfirst\n" + chainErrMark, ""},
	} {
		if got := lastStep(tc.stderr); got != tc.want {
			t.Errorf("lastStep(%q): got %q, want %q", tc.stderr, got, tc.want)
		}
	}
}
