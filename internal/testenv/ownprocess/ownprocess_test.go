package ownprocess

import (
	"os"
	"strconv"
	"testing"
)

const marker = "SWITCHMAN_TEST_OWNPROCESS_CHILD"

// TestRun: the test runs again in a process of its own, with the
// environment given; the first process's pid is not the second's.
func TestRun(t *testing.T) {
	if !Child(marker) {
		Run(t, marker, "SWITCHMAN_TEST_OWNPROCESS_PARENT="+strconv.Itoa(os.Getpid()))
		return
	}
	parent := os.Getenv("SWITCHMAN_TEST_OWNPROCESS_PARENT")
	if parent == "" || parent == strconv.Itoa(os.Getpid()) {
		t.Errorf("parent pid %q, this pid %d: want the test in another process", parent, os.Getpid())
	}
}
