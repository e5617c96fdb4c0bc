package commands

import "testing"

// TestSmartDashFlagOffered: chat clients turn "--" into "—", and the
// parser reads "—dry-run" as --dry-run; but "deploy accounting 1337
// —dry-run --dry-run" was answered with "deploy accounting 1337 —dry-run"
// as the command to send, the dash kept as typed. The command offered
// spells each flag as help and usage do, so that it reads as what it
// runs, and so does every word written twice whose command keeps the
// flags as written.
func TestSmartDashFlagOffered(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"flag twice, em dash first", "deploy accounting 1337 \u2014dry-run --dry-run", "--dry-run",
			"deploy accounting 1337 --dry-run", "deploy accounting 1337 to production --dry-run"},
		{"flag twice, en dash first", "deploy accounting 1337 \u2013dry-run \u2014dry-run", "--dry-run",
			"deploy accounting 1337 --dry-run", "deploy accounting 1337 to production --dry-run"},
		{"flag twice, case kept", "deploy accounting 1337 \u2014DRY-RUN --dry-run", "--dry-run",
			"deploy accounting 1337 --DRY-RUN", "deploy accounting 1337 to production --dry-run"},
		{"flag twice, force kept", "deploy accounting 1337 \u2014dry-run \u2014force \"db migration\" --dry-run", "--dry-run",
			`deploy accounting 1337 --dry-run --force "db migration"`, `deploy accounting 1337 to production --dry-run --force "db migration"`},
		{"verb twice, dry run", "deploy deploy accounting 1337 \u2014dry-run", "deploy",
			"deploy accounting 1337 --dry-run", "deploy accounting 1337 to production --dry-run"},
		{"verb twice, force", "deploy deploy accounting 1337 \u2014force hotfix", "deploy",
			"deploy accounting 1337 --force hotfix", `deploy accounting 1337 to production --force "hotfix"`},
		{"verb twice, force with =", "deploy deploy accounting 1337 \u2014force=hotfix", "deploy",
			"deploy accounting 1337 --force=hotfix", `deploy accounting 1337 to production --force "hotfix"`},
	})
}
