package commands

import "testing"

// TestGrantUserWrittenTwice: "grant @ana @ana deployer" was answered
// that the role "@ana" starts with '@'; the user written twice is named
// so now, with the command written right, by grant and revoke.
func TestGrantUserWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"grant", "grant @ana @ana deployer accounting production for 2h", "@ana",
			"grant @ana deployer accounting production for 2h", "grant @ana deployer accounting production for 2h"},
		{"revoke", "revoke @ana @ana deployer accounting", "@ana",
			"revoke @ana deployer accounting", "revoke @ana deployer accounting"},
		{"bare", "grant @ana @ana deployer", "@ana", "grant @ana deployer", "grant @ana deployer"},
	})
}
