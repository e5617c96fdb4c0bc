package commands

import "testing"

// TestDeployIDWrittenTwice: "deploy confirm ID ID" was answered
// `unexpected word`, and "deploy confirm confirm ID" `"confirm" is not a
// deploy id`. Both are named as written twice now, with the command
// written right.
func TestDeployIDWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"confirm id", "deploy confirm " + deployID + " " + deployID, deployID,
			"deploy confirm " + deployID, "deploy confirm " + deployID},
		{"abort id", "deploy abort " + deployID + " " + deployID, deployID,
			"deploy abort " + deployID, "deploy abort " + deployID},
		{"confirm keyword", "deploy confirm confirm " + deployID, "confirm",
			"deploy confirm " + deployID, "deploy confirm " + deployID},
		{"abort keyword", "deploy abort abort " + deployID, "abort",
			"deploy abort " + deployID, "deploy abort " + deployID},
	})
}
