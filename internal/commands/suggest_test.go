package commands

import "testing"

func TestSuggest(t *testing.T) {
	apps := []string{"accounting", "api", "demo"}
	envs := []string{"preview", "prod-eu", "production", "staging"}
	tests := []struct {
		name       string
		word       string
		candidates []string
		want       string // "" for no suggestion
	}{
		{"deletion", "acounting", apps, "accounting"},
		{"insertion", "accountting", apps, "accounting"},
		{"substitution", "demi", apps, "demo"},
		{"transposition", "dmeo", apps, "demo"},
		{"two edits", "acountin", apps, "accounting"},
		{"case", "ACCOUNTING", apps, "accounting"},
		{"three edits", "acntingg", apps, ""},
		{"short word needs a close match", "ab", apps, ""},
		{"three letters one edit", "apo", apps, "api"},
		{"prefix", "stag", envs, "staging"},
		{"prefix prefers closest", "prod", envs, "prod-eu"},
		{"prefix long", "produc", envs, "production"},
		{"distance beats prefix", "previwe", envs, "preview"},
		{"cyrillic look-alike", "\u0430ccounting", apps, "accounting"},
		{"nothing close", "zzz", apps, ""},
		{"empty word", "", apps, ""},
		{"no candidates", "demo", nil, ""},
		{"verbs", "rollbak", verbNames(), "rollback"},
		{"verbs transposed", "lcok", verbNames(), "lock"},
		{"too long", string(make([]byte, 100)), apps, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Suggest(tt.word, tt.candidates)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("Suggest(%q, %v): got %q, %v, want %q", tt.word, tt.candidates, got, ok, tt.want)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "abc", 0},
		{"abc", "acb", 1},
		{"ca", "abc", 3}, // optimal string alignment: no edit of a transposed pair
		{"kitten", "sitting", 3},
		{"accounting", "acounting", 1},
		{"production", "prodcution", 1},
		{"наш", "нас", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			if got := distance(tt.a, tt.b); got != tt.want {
				t.Errorf("distance(%q, %q): got %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := distance(tt.b, tt.a); got != tt.want {
				t.Errorf("distance(%q, %q): got %d, want %d", tt.b, tt.a, got, tt.want)
			}
		})
	}
}
