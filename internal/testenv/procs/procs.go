// Package procs finds processes of this machine for tests: whether one is
// still running, and which carry a deploy run's token.
package procs

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Alive reports whether pid is a live process: a zombie, waiting to be
// reaped, is not.
func Alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("Z"))
}

// Carrying returns the live processes whose environment holds
// SWITCHMAN_RUN=token as a whole entry.
func Carrying(token string) []int {
	files, _ := filepath.Glob("/proc/[0-9]*/environ") // the pattern is well formed
	var pids []int
	for _, f := range files {
		env, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(append([]byte{0}, env...), []byte("\x00SWITCHMAN_RUN="+token+"\x00")) {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(f, "/proc/"), "/environ"))
		if Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
