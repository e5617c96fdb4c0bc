package supervisor

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/procs"
)

func pidOf(t *testing.T, s *Supervisor, name string) int {
	t.Helper()
	out, err := s.Ctl("pid", name)
	if err != nil {
		t.Fatalf("pid %s: %v", name, err)
	}
	pid, err := strconv.Atoi(out)
	if err != nil || pid == 0 {
		t.Fatalf("pid %s: got %q, want a process id", name, out)
	}
	return pid
}

// waitLog polls the log of program name until it contains want.
func waitLog(t *testing.T, s *Supervisor, name, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.ProgramLog(name), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: log %q does not contain %q within 5s", name, s.ProgramLog(name), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProgramsRunRestartAndStopWithTheTest(t *testing.T) {
	// Values that a supervisord config would mangle if written as they
	// are: '%' (interpolation), quotes, '$', ',', '=' and spaces.
	const greeting = `100% "quoted" $HOME, A=B`
	var supervisordPID, programPID int
	t.Run("run", func(t *testing.T) {
		start := time.Now()
		s := Start(t, []Program{{
			Name:    "greeter",
			Command: []string{"/bin/sh", "-c", `echo "greeting: $GREETING"; echo "arg: $0"; exec sleep 60`, "50% off"},
			Env:     map[string]string{"GREETING": greeting},
		}})
		t.Logf("supervisord answered after %s", time.Since(start).Round(time.Millisecond))
		supervisordPID = s.cmd.Process.Pid
		waitLog(t, s, "greeter", "greeting: "+greeting+"\narg: 50% off\n")
		programPID = pidOf(t, s, "greeter")

		start = time.Now()
		if err := s.Restart("greeter"); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		t.Logf("supervisorctl restart took %s", time.Since(start).Round(time.Millisecond))
		if procs.Alive(programPID) {
			t.Errorf("old greeter (pid %d) still runs after Restart", programPID)
		}
		programPID = pidOf(t, s, "greeter")

		if err := s.Restart("nope"); err == nil || !strings.Contains(err.Error(), "no such process") {
			t.Errorf("Restart of an unknown program: got %v, want supervisorctl's no such process error", err)
		}
		out, err := s.Ctl("status")
		if err != nil || !strings.Contains(out, "RUNNING") {
			t.Errorf("status: got %q, %v, want greeter RUNNING", out, err)
		}
		t.Cleanup(func() { t.Logf("cleanup starts") })
	})
	for name, pid := range map[string]int{"supervisord": supervisordPID, "greeter": programPID} {
		if procs.Alive(pid) {
			t.Errorf("%s (pid %d) still runs after the test", name, pid)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Logf("kill %d: %v", pid, err)
			}
		}
	}
}

func TestConfigRefusesWhatItCannotHold(t *testing.T) {
	tests := []struct {
		name string
		p    Program
	}{
		{"newline in command", Program{Name: "a", Command: []string{"echo", "a\n[program:b]"}}},
		{"inline comment", Program{Name: "a", Command: []string{"echo", "a ;b"}}},
		{"bad name", Program{Name: "a b", Command: []string{"true"}}},
		{"no command", Program{Name: "a"}},
		{"bad env name", Program{Name: "a", Command: []string{"true"}, Env: map[string]string{"A-B": "x"}}},
		{"newline in env", Program{Name: "a", Command: []string{"true"}, Env: map[string]string{"A": "x\ny"}}},
		{"both quotes in env", Program{Name: "a", Command: []string{"true"}, Env: map[string]string{"A": `it's "x"`}}},
		{"env ends with a quote", Program{Name: "a", Command: []string{"true"}, Env: map[string]string{"A": `x'`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Supervisor{dir: t.TempDir()}
			if _, err := s.config(s.dir, []Program{tt.p}); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}
