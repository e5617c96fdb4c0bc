package procs

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestAliveAndCarrying(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	cmd := exec.Command("sleep", "30")
	cmd.Env = append(os.Environ(), "SWITCHMAN_RUN="+token)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !Alive(pid) {
		t.Errorf("Alive(%d) = false for a running sleep", pid)
	}
	if got := Carrying(token); !slices.Equal(got, []int{pid}) {
		t.Errorf("Carrying: got %v, want [%d]", got, pid)
	}
	if got := Carrying(token[:31]); len(got) != 0 {
		t.Errorf("Carrying a prefix of the token: got %v, want none", got)
	}
	cmd.Process.Kill()
	// Killed but not yet reaped: a zombie, which is not alive.
	for i := 0; i < 100 && Alive(pid); i++ {
		exec.Command("sleep", "0.01").Run()
	}
	if Alive(pid) {
		t.Errorf("Alive(%d) = true for a killed, unreaped process", pid)
	}
	cmd.Wait()
	if Alive(pid) || len(Carrying(token)) != 0 {
		t.Errorf("after Wait: Alive %v, Carrying %v; want neither", Alive(pid), Carrying(token))
	}
}
