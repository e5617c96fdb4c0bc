package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestHistoryTargetRefusedByName: "history 5 accounting production
// staging" was refused as `unexpected word "production"`, a word that is
// right where it is; the stray one is the second env. A second env, a
// second app and an N written twice are each named for what they are;
// two envs are named both, as every command names them.
func TestHistoryTargetRefusedByName(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"N first, two envs", "history 5 accounting production staging",
			`two envs are named, "production" and "staging": send the history again with the one you mean, or leave the env out to see every env of accounting`},
		{"N first, two envs, N goes last too", "history 5 accounting production staging",
			"N goes last: history accounting production N"},
		{"two envs, then N", "history accounting production staging 5",
			`two envs are named, "production" and "staging": send the history again with the one you mean, or leave the env out to see every env of accounting`},
		{"two envs", "history accounting production staging",
			`two envs are named, "production" and "staging": send the history again with the one you mean, or leave the env out to see every env of accounting`},
		{"N between the envs", "history accounting production 5 staging",
			`two envs are named, "production" and "staging": send the history again with the one you mean, or leave the env out to see every env of accounting`},
		{"two apps", "history accounting demo",
			`unexpected word "demo": history takes one app`},
		{"N first, two apps", "history 5 accounting demo",
			`unexpected word "demo": history takes one app`},
		{"N twice", "history accounting 5 7",
			`N is written twice ("5" and "7"); write it once, last: ` + suggest.Command("history accounting 7")},
		{"N twice, nothing else", "history 5 5",
			`N is written twice ("5" and "5"); write it once, last: ` + suggest.Command("history 5")},
		{"N first, stray word", "history 5 accounting production extra",
			`unexpected word "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.Contains(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply containing %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
