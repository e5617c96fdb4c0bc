package bench

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestTree checks that the memory sampler's walk finds a child and its
// child, and skips what it is told to keep out.
func TestTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & echo $!; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the grandchild's pid: %v", err)
	}
	grandchild, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", line, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(grandchild, syscall.SIGKILL) })
	child := cmd.Process.Pid

	// The shell printed the pid after forking, so both exist by now.
	got := tree(nil)
	if !slices.Contains(got, child) || !slices.Contains(got, grandchild) {
		t.Fatalf("tree() = %v, want it to hold the child %d and the grandchild %d", got, child, grandchild)
	}
	if kept := tree(map[int]bool{child: true}); slices.Contains(kept, child) || slices.Contains(kept, grandchild) {
		t.Errorf("tree(keep the child) = %v, want neither %d nor %d", kept, child, grandchild)
	}
	if kids := kidsOf(child); !slices.Equal(kids, []int{grandchild}) {
		t.Errorf("kidsOf(child) = %v, want [%d]", kids, grandchild)
	}
}

// TestUnexeced checks which processes the memory sampler leaves out: one
// still running this program (before its exec, it would share this
// process's memory) or gone, not one that has exec'd.
func TestUnexeced(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil { // Start returns once sleep has exec'd
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pid  int
		want bool
	}{
		{"this process", os.Getpid(), true},
		{"an exec'd child", cmd.Process.Pid, false},
		{"a reaped child", gone.Process.Pid, true},
	}
	for _, tt := range tests {
		if got := unexeced(tt.pid); got != tt.want {
			t.Errorf("%s (pid %d): unexeced = %v, want %v", tt.name, tt.pid, got, tt.want)
		}
	}
}
