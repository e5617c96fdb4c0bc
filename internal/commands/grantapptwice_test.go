package commands

import "testing"

// TestGrantAppWrittenTwiceThenEnv: grant and revoke named the app
// written twice only when nothing followed it; "grant @ana deployer
// accounting accounting production" was answered `unexpected word
// "production"`. It is now named so, with the command written right,
// the duration kept.
func TestGrantAppWrittenTwiceThenEnv(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"grant", "grant @ana deployer accounting accounting production", "accounting",
			"grant @ana deployer accounting production", "grant @ana deployer accounting production"},
		{"grant, duration", "grant @ana deployer accounting accounting production for 2h", "accounting",
			"grant @ana deployer accounting production for 2h", "grant @ana deployer accounting production for 2h"},
		{"grant, quoted app", `grant @ana deployer "accounting" accounting staging`, "accounting",
			`grant @ana deployer "accounting" staging`, "grant @ana deployer accounting staging"},
		{"revoke", "revoke @ana deployer accounting accounting production", "accounting",
			"revoke @ana deployer accounting production", "revoke @ana deployer accounting production"},
	})
}
