package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLeftoverScriptSparesItsOwnAncestors: the search never stops a
// process it runs under, even one that carries the dead run's token and
// looks like a step's shell: the step of the dead run that started the
// bot now running the search (a bot deployed by itself, with the local
// transport, whose restart step has not ended yet). Without it the search
// stopped its own shell and never ended, and the bot with it.
func TestLeftoverScriptSparesItsOwnAncestors(t *testing.T) {
	const dead = "d00dd00dd00dd00dd00dd00dd00dd00d"
	const cur = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
	// The dead run's step shell, as the local transport starts it, runs
	// the search in a shell of the current run's, as the bot would.
	const step = `env -i PATH="$PATH" SWITCHMAN_RUN=` + cur + ` /bin/sh -c "$SEARCH" /bin/sh switchman; echo done`
	// Only a guard: a search that stopped itself never ends.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", step, "/bin/sh", "switchman")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SWITCHMAN_RUN=" + dead, "SEARCH=" + fmt.Sprintf(leftoverScript, dead)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Stopped processes die of SIGKILL too: none is left behind.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.Output()
	if err != nil || string(out) != "done\n" {
		t.Errorf("got %q, %v; want %q: the search left its own shell and the step it runs under alone", out, err, "done\n")
	}
}

// TestLeftoverSearchMatchesTheVariableExactly: a program is the dead run's
// only by its SWITCHMAN_RUN. One of another run whose environment holds
// the dead token in another variable's value (a command line kept in
// SSH_ORIGINAL_COMMAND, say) is left alone.
func TestLeftoverSearchMatchesTheVariableExactly(t *testing.T) {
	const dead = "d00dd00dd00dd00dd00dd00dd00dd00d"
	const cur = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
	// A step of the current run, started as the local transport starts
	// its shells.
	step := exec.Command("/bin/sh", "-c", `SWITCHMAN_NOTE=SWITCHMAN_RUN=`+dead+` sleep 60 & echo $!; wait`, "/bin/sh", "switchman")
	step.Env = []string{"PATH=" + os.Getenv("PATH"), "SWITCHMAN_RUN=" + cur}
	step.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := step.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := step.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-step.Process.Pid, syscall.SIGKILL)
		_ = step.Wait()
	}()
	var pid int
	if _, err := fmt.Fscan(stdout, &pid); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/sh", "-c", fmt.Sprintf(leftoverScript, dead)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 0 {
		t.Errorf("the search stopped %q, want nothing: no process carries SWITCHMAN_RUN=%s", out, dead)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) == 0 || f[0] != "S" {
		t.Errorf("the other run's sleep is in state %q, want S (sleeping)", f)
	}
}
