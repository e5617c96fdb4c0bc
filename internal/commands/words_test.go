package commands

import (
	"slices"
	"testing"
)

// TestWords: Words splits a command as Parse reads it, a quoted reason
// one word, so that a command rewritten word by word means the same.
func TestWords(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Word
		wantErr  bool
	}{
		{"plain", "status web", []Word{{Text: "status"}, {Text: "web"}}, false},
		{"quoted reason", `lock deploys web prod for 2h "db migration"`, []Word{{Text: "lock"}, {Text: "deploys"}, {Text: "web"},
			{Text: "prod"}, {Text: "for"}, {Text: "2h"}, {Text: "db migration", Quoted: true}}, false},
		{"other quotes", "train cancel daily \u00abit's \"late\"\u00bb", []Word{{Text: "train"}, {Text: "cancel"}, {Text: "daily"},
			{Text: `it's "late"`, Quoted: true}}, false},
		{"quote inside a word", "lock deploys don't", []Word{{Text: "lock"}, {Text: "deploys"}, {Text: "don't"}}, false},
		{"no-break space", "status\u00a0web", []Word{{Text: "status"}, {Text: "web"}}, false},
		{"quote left open", `lock deploys "db`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Words(tt.in)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v (error: %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
