package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestRollbackFromBeforeTo: "from BUILD" written before "to BUILD" was
// refused as an "unexpected word "to"", which said neither what was wrong
// nor how to write it.
func TestRollbackFromBeforeTo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // in the reply
	}{
		{"without env", "rollback accounting from 1337 to 1336", `"to BUILD" goes before "from BUILD": rollback accounting to 1336 from 1337`},
		{"with env", "rollback accounting staging from 1337 to 1336", `"to BUILD" goes before "from BUILD": rollback accounting staging to 1336 from 1337`},
		{"any case", "rollback accounting staging FROM 1337 To 1336", `rollback accounting staging to 1336 from 1337`},
		{"bad build after to", "rollback accounting from 1337 to $(id)", `build "$(id)" contains '$'`},
		{"to without a build", "rollback accounting from 1337 to", `"to" needs a build`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			got.Reply = suggest.Strip(got.Reply) // the text people read
			if got.Kind != Reply {
				t.Fatalf("Parse(%q): got kind %v (%q), want reply", tt.in, got.Kind, got.Cmd.Text)
			}
			if !strings.Contains(got.Reply, tt.want) {
				t.Errorf("Parse(%q):\ngot reply %q\nwant it to contain %q", tt.in, got.Reply, tt.want)
			}
		})
	}
}
