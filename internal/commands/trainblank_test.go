package commands

import (
	"strings"
	"testing"
)

// TestTrainActionBlank: `train ""` was answered `unknown train action ""`,
// as if a word had been looked up and not found, where an app, env or
// build left blank is named as such. The action left blank now is too.
func TestTrainActionBlank(t *testing.T) {
	const want = "an empty quoted word stands where the train action goes: name the action; train takes board,"
	for _, tt := range []struct {
		name, in string
	}{
		{"double quotes", `train ""`},
		{"single quotes", `train ''`},
		{"words after", `train "" accounting 1337`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, want)
			}
		})
	}
}
