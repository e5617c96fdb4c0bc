package deploy_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

func TestExpectMatchesWholeWords(t *testing.T) {
	for _, tc := range []struct {
		body, expect string
		want         bool
	}{
		{"ok build 1", "1", true},
		{"ok build 10", "1", false},
		{"ok build 21", "1", false},
		{"version 2025.03.14-1", "1", false},
		{"version 2025.03.14-1", "2025.03.14-1", true},
		{"version 2025.03.14-12", "2025.03.14-1", false},
		{"ok build 3.", "3", true},
		{"ok build 3-", "3", true},
		{`{"build":"1338"}`, "133", false},
		{`{"build":"133"}`, "133", true},
		{"build 10, then build 1", "1", true},
		{"ok build 1_a", "1", false},
		{"ok", "ok build 1", false},
		{"ok build 1 ready", "ok build 1", true},
		{"1", "1", true},
	} {
		if got := deploy.ContainsWord(tc.body, tc.expect); got != tc.want {
			t.Errorf("ContainsWord(%q, %q) = %v, want %v", tc.body, tc.expect, got, tc.want)
		}
	}
}
