package chat

import (
	"strings"
	"unicode/utf8"
)

// minLineShare is the fewest characters FitLines leaves a line it cuts;
// below that, the lines are cut as one text.
const minLineShare = 80

// FitLines joins lines, each already escaped for a platform, with \n into
// at most n characters (runes), cutting the longest lines first and
// leaving the shorter ones whole. fit cuts one escaped text to at most n
// characters, ending it saying how much was left out, and never splits an
// escape; it cuts the joined text instead when the lines would have to
// be cut under minLineShare characters each.
//
// Cut as one text from its end, a deploy's progress lines lost what comes
// last: three long notes (a host's standard error, up to 4 KiB each)
// pushed the migrations prompt after them, and its deadline, out of the
// message, and people saw Confirm and Abort buttons under no question.
func FitLines(lines []string, n int, fit func(s string, n int) string) string {
	sizes := make([]int, len(lines))
	total, longest := len(lines)-1, 0
	for i, l := range lines {
		sizes[i] = utf8.RuneCountInString(l)
		total += sizes[i]
		longest = max(longest, sizes[i])
	}
	if total <= n {
		return strings.Join(lines, "\n")
	}
	// The largest share such that the lines, none longer than it, fit.
	fits := func(share int) bool {
		sum := len(lines) - 1
		for _, k := range sizes {
			sum += min(k, share)
		}
		return sum <= n
	}
	lo, hi := 0, longest
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo < minLineShare {
		return fit(strings.Join(lines, "\n"), n)
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fit(l, lo)
	}
	return strings.Join(out, "\n")
}
