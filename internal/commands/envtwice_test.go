package commands

import "testing"

// TestEnvWrittenTwice: an env written twice right after it was answered
// `unexpected word "production"` by cancel, unlock, deploy, grant,
// revoke and a rollback with more after it, and history called it a
// second env. Each names it written twice now, with the command written
// right.
func TestEnvWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"cancel", "cancel accounting production production", "production",
			"cancel accounting production", "cancel accounting production"},
		{"unlock", "unlock deploys accounting production production", "production",
			"unlock deploys accounting production", "unlock deploys accounting production"},
		{"deploy", "deploy accounting 1337 to production production", "production",
			"deploy accounting 1337 to production", "deploy accounting 1337 to production"},
		{"deploy, flags kept", "deploy accounting 1337 to staging staging --dry-run", "staging",
			"deploy accounting 1337 to staging --dry-run", "deploy accounting 1337 to staging --dry-run"},
		{"deploy, quoted env", `deploy accounting 1337 to "staging" staging`, "staging",
			`deploy accounting 1337 to "staging"`, "deploy accounting 1337 to staging"},
		{"grant", "grant @ana deployer accounting production production", "production",
			"grant @ana deployer accounting production", "grant @ana deployer accounting production"},
		{"grant, duration", "grant @ana deployer accounting staging staging for 1h", "staging",
			"grant @ana deployer accounting staging for 1h", "grant @ana deployer accounting staging for 1h"},
		{"revoke", "revoke @ana deployer accounting production production", "production",
			"revoke @ana deployer accounting production", "revoke @ana deployer accounting production"},
		{"rollback, to", "rollback accounting production production to 1336", "production",
			"rollback accounting production to 1336", "rollback accounting production to 1336"},
		{"rollback, from", "rollback accounting staging staging from 1337", "staging",
			"rollback accounting staging from 1337", "rollback accounting staging from 1337"},
		{"history", "history accounting production production", "production",
			"history accounting production", "history accounting production 10"},
		{"history, N", "history accounting production production 5", "production",
			"history accounting production 5", "history accounting production 5"},
	})
}
