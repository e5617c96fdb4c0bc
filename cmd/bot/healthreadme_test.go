package main

import (
	"os"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestHealthConditionsInReadme: every word /healthz says of the embedded
// store is explained in the README's /healthz row, and a stalled disk,
// which people were sent to the network for, has its row among the
// failures, as Redis unreachable has, saying what /healthz answers.
func TestHealthConditionsInReadme(t *testing.T) {
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := func(prefix string) string {
		t.Helper()
		for l := range strings.SplitSeq(string(md), "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("README.md has no row starting %q", prefix)
		return ""
	}
	healthz := row("| `GET /healthz` |")
	for _, c := range []string{embedded.ConditionDamaged, embedded.ConditionUnmapped, embedded.ConditionRefusesWrites, embedded.ConditionStalled, embedded.ConditionClosed, embedded.ConditionIOError, embedded.ConditionFailed} {
		if !strings.Contains(healthz, `"store":"`+c+`"`) {
			t.Errorf("README's /healthz row does not explain \"store\":%q", c)
		}
	}
	if failure := row("| The embedded store's disk stalls"); !strings.Contains(failure, `{"status":"unavailable","store":"stalled"}`) {
		t.Errorf("README's row of a stalled embedded disk does not give /healthz's answer: %s", failure)
	}
}
