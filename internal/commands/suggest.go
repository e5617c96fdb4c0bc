package commands

import (
	"strings"
	"unicode/utf8"
)

// maxSuggestLen is the longest word Suggest considers; longer input is not a
// typo of a name.
const maxSuggestLen = 64

// Suggest returns the candidate that word most likely means, for "did you
// mean …?" replies, and whether there is one. Comparison ignores case. In
// order of preference: a candidate equal to word but for case; the closest
// candidate within Damerau-Levenshtein distance 2 (at most one edit per two
// characters of word, so that "ab" does not suggest "cd"); a candidate that
// word is a prefix of ("prod" → "production"), the shortest first. Ties go to
// the earlier candidate.
func Suggest(word string, candidates []string) (string, bool) {
	w := strings.ToLower(word)
	wl := utf8.RuneCountInString(w)
	if wl == 0 || wl > maxSuggestLen {
		return "", false
	}
	best, bestScore := "", -1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		cl := utf8.RuneCountInString(lc)
		score := -1
		switch {
		case lc == w:
			score = 0
		case cl-wl <= 2 && wl-cl <= 2:
			if d := distance(w, lc); d <= 2 && 2*d <= wl {
				score = d
			}
		}
		if score < 0 && strings.HasPrefix(lc, w) {
			score = 3 + cl - wl
		}
		if score >= 0 && (bestScore < 0 || score < bestScore) {
			best, bestScore = c, score
		}
	}
	return best, bestScore >= 0
}

// distance is the Damerau-Levenshtein distance between a and b in its
// optimal string alignment form: insertions, deletions, substitutions and
// transpositions of adjacent runes each cost 1, and no substring is edited
// twice.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows of the dynamic-programming matrix: i-2, i-1 and i.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
