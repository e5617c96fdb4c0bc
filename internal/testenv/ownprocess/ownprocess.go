// Package ownprocess runs a test in a process of its own: for what a
// process holds once (the open-file limit, net/http's reading of the proxy
// variables).
package ownprocess

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Child reports whether this is the process of its own that Run started
// with marker: the test's work is done there.
func Child(marker string) bool { return os.Getenv(marker) != "" }

// Run runs t alone in a new process of the test binary, with env added to
// its environment and marker set, and fails t unless it passed there.
func Run(t *testing.T, marker string, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v")
	cmd.Env = append(append(os.Environ(), env...), marker+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s in a process of its own: %v\n%s", t.Name(), err, out)
	}
}
