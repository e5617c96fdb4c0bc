package commands

import "testing"

// TestTrainDepartNowWrittenTwice: "train depart daily now now" was
// answered `unexpected word "now"`; it is named as written twice now,
// with the command written right.
func TestTrainDepartNowWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"in a row", "train depart daily now now", "now", "train depart daily now", "train depart daily now"},
		{"any case", "train depart weekly NOW now", "now", "train depart weekly NOW", "train depart weekly now"},
		{"train quoted", `train depart "daily" now now`, "now", `train depart "daily" now`, "train depart daily now"},
	})
}
