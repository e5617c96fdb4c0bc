package commands

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// lookalikes maps Cyrillic and Greek letters that read as Latin ones to
// those: enough to see through "wеb" with a Cyrillic е.
var lookalikes = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't',
	'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'һ': 'h', 'ӏ': 'l',
	'α': 'a', 'β': 'b', 'ε': 'e', 'ζ': 'z', 'η': 'n', 'ι': 'i', 'κ': 'k', 'μ': 'u', 'ν': 'v', 'ο': 'o',
	'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'ı': 'i', 'ℓ': 'l',
}

// foldLookalike is how s reads to a person: full-width forms as ASCII,
// Cyrillic and Greek look-alikes as the Latin letters they look like,
// lower case, and without the zero-width (non-)joiners checkChars lets
// through. A word that folds to an app, an env or a keyword without being
// one is refused where taking it for free text would change what a
// command does.
func foldLookalike(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\u200c' || r == '\u200d':
			continue
		case '\uff01' <= r && r <= '\uff5e':
			r -= 0xfee0
		}
		r = unicode.ToLower(r)
		if l, ok := lookalikes[r]; ok {
			r = l
		}
		b.WriteRune(r)
	}
	return b.String()
}

// disguised returns what w looks like when it is written with look-alike
// characters and folds to a word that match accepts, or "".
func disguised(w string, match func(string) bool) string {
	f := foldLookalike(w)
	if f == strings.ToLower(w) || !match(f) {
		return ""
	}
	return f
}

// nonASCII names the characters of w that are not ASCII, each once, for a
// refusal: "'е' U+0435". A look-alike reads as the letter it imitates, so
// the reply says which characters differ, not only that some do.
func nonASCII(w string) string {
	var parts []string
	seen := map[rune]bool{}
	for _, r := range w {
		if r < utf8.RuneSelf || seen[r] {
			continue
		}
		seen[r] = true
		parts = append(parts, fmt.Sprintf("%q %U", r, r))
		if len(parts) == 3 {
			break
		}
	}
	return strings.Join(parts, ", ")
}
