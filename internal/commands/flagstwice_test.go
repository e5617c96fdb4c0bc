package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTwoFlagsWrittenTwice: "deploy accounting 1337 --dry-run --dry-run
// --force "a" --force "a"" was answered "--force is given twice; give it
// once", the --dry-run written twice left unnamed, with no command to
// send: only one flag at a time was taken for one written twice. Every
// flag written twice is named now, and the command offered has each
// once, --dry-run kept; with two reasons for --force, the other flag
// written twice is named with them, and nothing is offered. A flag
// written twice beside a slip in the arguments is named with it, as
// every slip is.
func TestTwoFlagsWrittenTwice(t *testing.T) {
	for _, tt := range []struct{ name, in, want, run string }{
		{"dry-run, then force", `deploy accounting 1337 --dry-run --dry-run --force "a" --force "a"`,
			`"--dry-run" is written twice; write it once, and "--force" is written twice; write it once: ` + suggest.Command(`deploy accounting 1337 --dry-run --force "a"`),
			`deploy accounting 1337 to production --dry-run --force "a"`},
		{"force in a row, then dry-run", `deploy accounting 1337 --force --force "a" --dry-run --dry-run`,
			`"--force" is written twice; write it once, and "--dry-run" is written twice; write it once: ` + suggest.Command(`deploy accounting 1337 --force "a" --dry-run`),
			`deploy accounting 1337 to production --dry-run --force "a"`},
		{"interleaved", `deploy accounting 1337 --force=a --dry-run --force=a --dry-run`,
			`"--force" is written twice; write it once, and "--dry-run" is written twice; write it once: ` + suggest.Command(`deploy accounting 1337 --force=a --dry-run`),
			`deploy accounting 1337 to production --dry-run --force "a"`},
		{"two reasons", `deploy accounting 1337 --dry-run --dry-run --force "a" --force "b"`,
			`"--dry-run" is written twice; write it once, and --force is given twice; give it once`, ""},
		{"two reasons first", `deploy accounting 1337 --force=a --force=b --dry-run --dry-run`,
			`"--dry-run" is written twice; write it once, and --force is given twice; give it once`, ""},
		{"build twice", "deploy accounting 1337 1337 --dry-run --dry-run",
			`"--dry-run" is written twice; write it once, and "1337" is written twice; write it once: ` + suggest.Command("deploy accounting 1337 --dry-run"),
			"deploy accounting 1337 to production --dry-run"},
		{"unknown app", "deploy nope 1337 --dry-run --dry-run",
			`"--dry-run" is written twice; write it once, and unknown app "nope"`, ""},
		{"force without reason", "deploy accounting 1337 --dry-run --dry-run --force",
			`"--dry-run" is written twice; write it once, and --force needs a reason, e.g. --force "INC-42 hotfix"`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, tt.run)
		})
	}
}
