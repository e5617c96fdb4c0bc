package commands

import (
	goparser "go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// testCatalog is a Catalog held in memory.
type testCatalog struct {
	envs     map[string][]string // app → sorted envs
	defaults map[string]string   // app → default env
	trains   []string            // sorted train names
}

func (c testCatalog) Apps() []string {
	apps := make([]string, 0, len(c.envs))
	for app := range c.envs {
		apps = append(apps, app)
	}
	slices.Sort(apps)
	return apps
}

func (c testCatalog) Envs(app string) []string     { return c.envs[app] }
func (c testCatalog) DefaultEnv(app string) string { return c.defaults[app] }
func (c testCatalog) Trains() []string             { return slices.Clone(c.trains) }

// shortAppCat has apps with short names, whose typos are short words.
func shortAppCat() testCatalog {
	return testCatalog{
		envs:     map[string][]string{"api": {"production"}, "web": {"production"}},
		defaults: map[string]string{"api": "production", "web": "production"},
	}
}

// testCat has two apps with the same envs but different defaults, and two
// trains.
func testCat() testCatalog {
	return testCatalog{
		envs: map[string][]string{
			"accounting": {"production", "staging"},
			"demo":       {"production", "staging"},
		},
		defaults: map[string]string{"accounting": "production", "demo": "staging"},
		trains:   []string{"daily", "weekly"},
	}
}

// deployID is a valid deploy id.
const deployID = "20261123-124158-b25a0a"

func TestParseRun(t *testing.T) {
	deployAP := Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1337", Text: "deploy accounting 1337 to production"}
	confirm := Command{Verb: VerbConfirm, DeployID: deployID, Text: "deploy confirm " + deployID}
	abort := Command{Verb: VerbAbort, DeployID: deployID, Text: "deploy abort " + deployID}
	tests := []struct {
		name string
		in   string
		want Command
	}{
		// Input forms.
		{"plain", "deploy accounting 1337 to production", deployAP},
		{"slash", "/deploy accounting 1337 to production", deployAP},
		{"bot name", "@switchman deploy accounting 1337 to production", deployAP},
		{"bot name any case with colon", "@SwitchMan: deploy accounting 1337 to production", deployAP},
		{"bot name with comma", "@switchman, deploy accounting 1337 to production", deployAP},
		{"bot name then slash", "@switchman /deploy accounting 1337 to production", deployAP},
		{"slack mention", "<@U123ABC> deploy accounting 1337 to production", deployAP},
		{"slack mention with label", "<@U123ABC|switchman> deploy accounting 1337 to production", deployAP},
		{"discord nick mention", "<@!123456> deploy accounting 1337 to production", deployAP},
		{"discord mention", "<@123456> deploy accounting 1337 to production", deployAP},
		{"mention without space", "<@123456>deploy accounting 1337 to production", deployAP},
		{"mention with colon", "<@U123ABC>: deploy accounting 1337 to production", deployAP},
		{"no-break spaces", "deploy\u00a0accounting\u20031337 to production", deployAP},
		{"blanks and tabs", " \t deploy   accounting\t1337  to production \t", deployAP},
		{"verb and keyword any case", "DEPLOY accounting 1337 TO production", deployAP},
		{"quoted args", `deploy "accounting" '1337' to "production"`, deployAP},

		// deploy
		{"deploy default env", "deploy demo 1",
			Command{Verb: VerbDeploy, App: "demo", Env: "staging", Build: "1", Text: "deploy demo 1 to staging"}},
		{"deploy build with dots dashes underscores", "deploy accounting 2.4.0-rc1_b7 to staging",
			Command{Verb: VerbDeploy, App: "accounting", Env: "staging", Build: "2.4.0-rc1_b7", Text: "deploy accounting 2.4.0-rc1_b7 to staging"}},
		{"deploy build of 64 chars", "deploy accounting " + strings.Repeat("a", 64),
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: strings.Repeat("a", 64), Text: "deploy accounting " + strings.Repeat("a", 64) + " to production"}},
		{"deploy dry run", "deploy accounting 1 --dry-run",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", DryRun: true, Text: "deploy accounting 1 to production --dry-run"}},
		{"deploy flag first", "deploy --dry-run accounting 1 to staging",
			Command{Verb: VerbDeploy, App: "accounting", Env: "staging", Build: "1", DryRun: true, Text: "deploy accounting 1 to staging --dry-run"}},
		{"deploy flag any case", "deploy accounting 1 --DRY-RUN",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", DryRun: true, Text: "deploy accounting 1 to production --dry-run"}},
		{"deploy smart dash flag", "deploy accounting 1 \u2014dry-run",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", DryRun: true, Text: "deploy accounting 1 to production --dry-run"}},
		// Look-alike dashes after an unquoted reason: read as the flag they
		// look like, not as words of the reason (the deploy would run).
		{"deploy force then non-breaking-hyphen dry run", "deploy accounting 1 --force INC-42 \u2011\u2011dry-run",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", DryRun: true, Force: "INC-42", Text: `deploy accounting 1 to production --dry-run --force "INC-42"`}},
		{"deploy force then full-width dry run", "deploy accounting 1 --force INC-42 \uff0d\uff0ddry-run",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", DryRun: true, Force: "INC-42", Text: `deploy accounting 1 to production --dry-run --force "INC-42"`}},
		{"deploy force then minus-sign dry run", "deploy accounting 1 --force INC-42 \u2212\u2212dry-run",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", DryRun: true, Force: "INC-42", Text: `deploy accounting 1 to production --dry-run --force "INC-42"`}},
		{"deploy force double quotes", `deploy accounting 1 to production --force "INC-42 hotfix"`,
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", Force: "INC-42 hotfix", Text: `deploy accounting 1 to production --force "INC-42 hotfix"`}},
		{"deploy force single quotes then flag", `deploy accounting 1 --force 'INC-42 hotfix' --dry-run`,
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", DryRun: true, Force: "INC-42 hotfix", Text: `deploy accounting 1 to production --dry-run --force "INC-42 hotfix"`}},
		{"deploy force curly quotes", "deploy accounting 1 --force \u201cINC-42 hotfix\u201d",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", Force: "INC-42 hotfix", Text: `deploy accounting 1 to production --force "INC-42 hotfix"`}},
		{"deploy force equals quoted", `deploy accounting 1 --force="INC-42 hotfix"`,
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", Force: "INC-42 hotfix", Text: `deploy accounting 1 to production --force "INC-42 hotfix"`}},
		{"deploy force unquoted trailing words", "deploy accounting 1 to staging --force INC-42 db hotfix",
			Command{Verb: VerbDeploy, App: "accounting", Env: "staging", Build: "1", Force: "INC-42 db hotfix", Text: `deploy accounting 1 to staging --force "INC-42 db hotfix"`}},
		{"deploy force unquoted ending with to after the target", "deploy accounting 1 to production --force needed to deploy",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", Force: "needed to deploy", Text: `deploy accounting 1 to production --force "needed to deploy"`}},
		{"deploy force unquoted with to", "deploy accounting 1 --force needed to fix INC-42",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", Force: "needed to fix INC-42", Text: `deploy accounting 1 to production --force "needed to fix INC-42"`}},
		{"deploy force unquoted stops at flag", "deploy accounting 1 --force INC-42 hotfix --dry-run",
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", DryRun: true, Force: "INC-42 hotfix", Text: `deploy accounting 1 to production --dry-run --force "INC-42 hotfix"`}},
		{"deploy force reason is data", `deploy accounting 1 --force "$(id); rm -rf / ../../etc"`,
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", Force: "$(id); rm -rf / ../../etc", Text: `deploy accounting 1 to production --force "$(id); rm -rf / ../../etc"`}},
		{"deploy force reason with quote inside", `deploy accounting 1 --force 'say "hi" now'`,
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "1", Force: `say "hi" now`, Text: `deploy accounting 1 to production --force 'say "hi" now'`}},
		{"deploy build named like the keyword to", `deploy accounting "To"`,
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: "To", Text: `deploy accounting "To" to production`}},
		{"deploy build shaped like a deploy id", "deploy accounting " + deployID,
			Command{Verb: VerbDeploy, App: "accounting", Env: "production", Build: deployID, Text: "deploy accounting " + deployID + " to production"}},

		// deploy confirm, deploy abort
		{"confirm", "deploy confirm " + deployID, confirm},
		{"confirm slash", "/deploy confirm " + deployID, confirm},
		{"confirm bot name", "@switchman: deploy confirm " + deployID, confirm},
		{"confirm mention and any case", "<@U123ABC> DEPLOY Confirm " + deployID, confirm},
		{"confirm quoted id", `deploy confirm "` + deployID + `"`, confirm},
		{"confirm blanks", " \t deploy\u00a0confirm   " + deployID + " \t", confirm},
		{"confirm lowest id", "deploy confirm 00000000-000000-000000",
			Command{Verb: VerbConfirm, DeployID: "00000000-000000-000000", Text: "deploy confirm 00000000-000000-000000"}},
		{"confirm highest id", "deploy confirm 99999999-999999-ffffff",
			Command{Verb: VerbConfirm, DeployID: "99999999-999999-ffffff", Text: "deploy confirm 99999999-999999-ffffff"}},
		{"abort", "deploy abort " + deployID, abort},
		{"abort discord mention", "<@!123456> /deploy ABORT " + deployID, abort},
		{"help of a form", "help confirm", Command{Verb: VerbHelp, Topic: "deploy", Text: "help deploy"}},
		{"help of a form with slash", "help /Abort", Command{Verb: VerbHelp, Topic: "deploy", Text: "help deploy"}},
		{"help flag of a form", "deploy abort --help", Command{Verb: VerbHelp, Topic: "deploy", Text: "help deploy"}},
		{"help of a form as the overview writes it", "help deploy Confirm", Command{Verb: VerbHelp, Topic: "deploy", Text: "help deploy"}},

		// rollback
		{"rollback default env", "rollback accounting",
			Command{Verb: VerbRollback, App: "accounting", Env: "production", Text: "rollback accounting production"}},
		{"rollback env", "rollback accounting staging",
			Command{Verb: VerbRollback, App: "accounting", Env: "staging", Text: "rollback accounting staging"}},
		{"rollback env to build", "/rollback accounting staging to 1336",
			Command{Verb: VerbRollback, App: "accounting", Env: "staging", Build: "1336", Text: "rollback accounting staging to 1336"}},
		{"rollback to build default env", "rollback demo to 1336",
			Command{Verb: VerbRollback, App: "demo", Env: "staging", Build: "1336", Text: "rollback demo staging to 1336"}},
		{"rollback from build", "rollback accounting staging from 1337",
			Command{Verb: VerbRollback, App: "accounting", Env: "staging", From: "1337", Text: "rollback accounting staging from 1337"}},
		{"rollback a deploy", "rollback 20261123-124158-b25a0a",
			Command{Verb: VerbRollback, DeployID: "20261123-124158-b25a0a", Text: "rollback 20261123-124158-b25a0a"}},
		{"rollback to and from", "rollback accounting to 1335 from 1337",
			Command{Verb: VerbRollback, App: "accounting", Env: "production", Build: "1335", From: "1337", Text: "rollback accounting production to 1335 from 1337"}},

		// lock
		{"lock everything", "lock deploys db migration",
			Command{Verb: VerbLock, Reason: "db migration", Text: `lock deploys "db migration"`}},
		{"lock app", "lock deploys accounting db migration",
			Command{Verb: VerbLock, App: "accounting", Reason: "db migration", Text: `lock deploys accounting "db migration"`}},
		{"lock app env for", "/lock deploys accounting production for 2h db migration",
			Command{Verb: VerbLock, App: "accounting", Env: "production", For: 2 * time.Hour, Reason: "db migration", Text: `lock deploys accounting production for 2h "db migration"`}},
		{"lock everything for quoted", `lock deploys for 1d "release freeze"`,
			Command{Verb: VerbLock, For: 24 * time.Hour, Reason: "release freeze", Text: `lock deploys for 1d "release freeze"`}},
		{"lock for week", "LOCK DEPLOYS demo FOR 1w holiday freeze",
			Command{Verb: VerbLock, App: "demo", For: 7 * 24 * time.Hour, Reason: "holiday freeze", Text: `lock deploys demo for 1w "holiday freeze"`}},
		{"lock for compound", "lock deploys demo staging for 1h30m flaky tests",
			Command{Verb: VerbLock, App: "demo", Env: "staging", For: 90 * time.Minute, Reason: "flaky tests", Text: `lock deploys demo staging for 1h30m "flaky tests"`}},
		{"lock trailing for", "lock deploys accounting production db migration for 30m",
			Command{Verb: VerbLock, App: "accounting", Env: "production", For: 30 * time.Minute, Reason: "db migration", Text: `lock deploys accounting production for 30m "db migration"`}},
		{"lock reason ending with for and a word with a digit", "lock deploys accounting rotate keys for 2fa",
			Command{Verb: VerbLock, App: "accounting", Reason: "rotate keys for 2fa", Text: `lock deploys accounting "rotate keys for 2fa"`}},
		{"lock quoted reason starting with an env", `lock deploys accounting staging "production db is down"`,
			Command{Verb: VerbLock, App: "accounting", Env: "staging", Reason: "production db is down", Text: `lock deploys accounting staging "production db is down"`}},
		{"lock reason ending with for, a number and a word", "lock deploys accounting waiting for 2 reviewers",
			Command{Verb: VerbLock, App: "accounting", Reason: "waiting for 2 reviewers", Text: `lock deploys accounting "waiting for 2 reviewers"`}},
		{"lock reason starting with for", "lock deploys accounting for the release",
			Command{Verb: VerbLock, App: "accounting", Reason: "for the release", Text: `lock deploys accounting "for the release"`}},
		{"lock quoted reason naming an app", `lock deploys "accounting is fragile"`,
			Command{Verb: VerbLock, Reason: "accounting is fragile", Text: `lock deploys "accounting is fragile"`}},
		{"lock reason with apostrophe", "lock deploys accounting don't deploy",
			Command{Verb: VerbLock, App: "accounting", Reason: "don't deploy", Text: `lock deploys accounting "don't deploy"`}},
		{"lock quoted reason with apostrophe", "lock deploys accounting 'don't deploy'",
			Command{Verb: VerbLock, App: "accounting", Reason: "don't deploy", Text: `lock deploys accounting "don't deploy"`}},
		{"lock quoted reason with tab", "lock deploys \"db\tmigration\"",
			Command{Verb: VerbLock, Reason: "db migration", Text: `lock deploys "db migration"`}},
		{"lock reason with dashes", "lock deploys accounting db -> api -- 2 --",
			Command{Verb: VerbLock, App: "accounting", Reason: "db -> api -- 2 --", Text: `lock deploys accounting "db -> api -- 2 --"`}},
		{"lock reason with emoji", "lock deploys accounting \U0001F6A7 freeze \U0001F468\u200d\U0001F4BB",
			Command{Verb: VerbLock, App: "accounting", Reason: "\U0001F6A7 freeze \U0001F468\u200d\U0001F4BB", Text: "lock deploys accounting \"\U0001F6A7 freeze \U0001F468\u200d\U0001F4BB\""}},

		// unlock
		{"unlock everything", "unlock deploys", Command{Verb: VerbUnlock, Text: "unlock deploys"}},
		{"unlock app", "unlock deploys accounting", Command{Verb: VerbUnlock, App: "accounting", Text: "unlock deploys accounting"}},
		{"unlock app env", "unlock deploys accounting production",
			Command{Verb: VerbUnlock, App: "accounting", Env: "production", Text: "unlock deploys accounting production"}},

		// status, history, cancel, help, whoami
		{"status", "status", Command{Verb: VerbStatus, Text: "status"}},
		{"status app", "status accounting", Command{Verb: VerbStatus, App: "accounting", Text: "status accounting"}},
		{"history", "history", Command{Verb: VerbHistory, N: 10, Text: "history 10"}},
		{"history N", "history 20", Command{Verb: VerbHistory, N: 20, Text: "history 20"}},
		{"history app", "history accounting", Command{Verb: VerbHistory, App: "accounting", N: 10, Text: "history accounting 10"}},
		{"history app env", "history accounting production",
			Command{Verb: VerbHistory, App: "accounting", Env: "production", N: 10, Text: "history accounting production 10"}},
		{"history app env N max", "history accounting production 100",
			Command{Verb: VerbHistory, App: "accounting", Env: "production", N: 100, Text: "history accounting production 100"}},
		{"cancel default env", "cancel demo", Command{Verb: VerbCancel, App: "demo", Env: "staging", Text: "cancel demo staging"}},
		{"cancel env", "cancel demo production", Command{Verb: VerbCancel, App: "demo", Env: "production", Text: "cancel demo production"}},
		{"help", "help", Command{Verb: VerbHelp, Text: "help"}},
		{"help topic", "help deploy", Command{Verb: VerbHelp, Topic: "deploy", Text: "help deploy"}},
		{"help topic any case with slash", "Help /Deploy", Command{Verb: VerbHelp, Topic: "deploy", Text: "help deploy"}},
		{"help topic as the overview writes it", "help lock deploys", Command{Verb: VerbHelp, Topic: "lock", Text: "help lock"}},
		{"help topic as the overview writes it any case", "help UNLOCK Deploys", Command{Verb: VerbHelp, Topic: "unlock", Text: "help unlock"}},
		{"help flag", "deploy accounting --help", Command{Verb: VerbHelp, Topic: "deploy", Text: "help deploy"}},
		{"whoami", "WhoAmI", Command{Verb: VerbWhoami, Text: "whoami"}},

		// train, with two trains in the catalog
		{"train", "train", Command{Verb: VerbTrain, TrainAction: TrainList, Text: "train"}},
		{"train any case with slash", "/TRAIN", Command{Verb: VerbTrain, TrainAction: TrainList, Text: "train"}},
		{"train board full", "train board accounting 1337 to production on daily",
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "1337", Env: "production", Train: "daily",
				Text: "train board accounting 1337 to production on daily"}},
		{"train board env not defaulted", "train board demo 2.4.0-rc1 on weekly",
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "demo", Build: "2.4.0-rc1", Train: "weekly", Text: "train board demo 2.4.0-rc1 on weekly"}},
		{"train board on before to", "@switchman Train BOARD accounting 1 ON daily TO staging",
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "1", Env: "staging", Train: "daily",
				Text: "train board accounting 1 to staging on daily"}},
		{"train board quoted args", `train board "accounting" '1337' on "weekly"`,
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "1337", Train: "weekly", Text: "train board accounting 1337 on weekly"}},
		{"train board build named like a keyword", `train board accounting "on" on daily`,
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "on", Train: "daily", Text: `train board accounting "on" on daily`}},
		{"train leave", "<@U123ABC> train leave demo on weekly",
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "demo", Train: "weekly", Text: "train leave demo on weekly"}},
		{"train leave a quoted train the config no longer has", `train leave demo on "nightly"`,
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "demo", Train: "nightly", TrainGone: true, Text: `train leave demo on "nightly"`}},
		{"train leave a quoted app the config no longer has", `train leave "shop" on weekly`,
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "shop", AppGone: true, Train: "weekly", Text: `train leave "shop" on weekly`}},
		{"train leave an app the config no longer has on a quoted train it no longer has", `train leave shop on "nightly"`,
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "shop", AppGone: true, Train: "nightly", TrainGone: true, Text: `train leave "shop" on "nightly"`}},
		{"train leave a quoted app the config has", `train leave "demo" on weekly`,
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "demo", Train: "weekly", Text: "train leave demo on weekly"}},
		{"train leave a quoted train the config has", `train leave demo on "weekly"`,
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "demo", Train: "weekly", Text: "train leave demo on weekly"}},
		{"train cancel", "train cancel daily db migration running",
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "daily", Reason: "db migration running", Text: `train cancel daily "db migration running"`}},
		{"train cancel reason naming a train", `train cancel weekly "daily is late"`,
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "weekly", Reason: "daily is late", Text: `train cancel weekly "daily is late"`}},
		{"train cancel reason with quotes", `train cancel daily 'it's "done"'`,
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "daily", Reason: `it's "done"`, Text: `train cancel daily "it's "done""`}},
		{"train cancel reason is data", `train cancel daily "$(id); rm -rf / ../../etc"`,
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "daily", Reason: "$(id); rm -rf / ../../etc", Text: `train cancel daily "$(id); rm -rf / ../../etc"`}},
		{"train depart", "/train depart daily now", Command{Verb: VerbTrain, TrainAction: TrainDepart, Train: "daily", Text: "train depart daily now"}},
		{"train depart any case", "TRAIN Depart weekly NOW", Command{Verb: VerbTrain, TrainAction: TrainDepart, Train: "weekly", Text: "train depart weekly now"}},
		{"help of a train action", "help Board", Command{Verb: VerbHelp, Topic: "train", Text: "help train"}},
		{"help flag of a train action", "train depart --help", Command{Verb: VerbHelp, Topic: "train", Text: "help train"}},
		{"help of a train action as the overview writes it", "help /train board", Command{Verb: VerbHelp, Topic: "train", Text: "help train"}},

		// stats
		{"stats default window", "stats accounting", Command{Verb: VerbStats, App: "accounting", For: 30 * day, Text: "stats accounting 30d"}},
		{"stats env", "/stats accounting production",
			Command{Verb: VerbStats, App: "accounting", Env: "production", For: 30 * day, Text: "stats accounting production 30d"}},
		{"stats env window", "stats demo staging 90d", Command{Verb: VerbStats, App: "demo", Env: "staging", For: 90 * day, Text: "stats demo staging 90d"}},
		{"stats window in weeks", "stats demo 2w", Command{Verb: VerbStats, App: "demo", For: 14 * day, Text: "stats demo 14d"}},
		{"stats any case", "STATS demo production 365D", Command{Verb: VerbStats, App: "demo", Env: "production", For: 365 * day, Text: "stats demo production 365d"}},
		{"stats shortest window", "stats demo 1d", Command{Verb: VerbStats, App: "demo", For: day, Text: "stats demo 1d"}},
		{"stats longest whole weeks", "stats demo 52w", Command{Verb: VerbStats, App: "demo", For: 364 * day, Text: "stats demo 364d"}},
		{"stats leading zeros", "stats demo 007d", Command{Verb: VerbStats, App: "demo", For: 7 * day, Text: "stats demo 7d"}},

		// audit
		{"audit", "audit", Command{Verb: VerbAudit, N: 20, Text: "audit 20"}},
		{"audit N", "/audit 200", Command{Verb: VerbAudit, N: 200, Text: "audit 200"}},
		{"audit app", "audit accounting", Command{Verb: VerbAudit, App: "accounting", N: 20, Text: "audit accounting 20"}},
		{"audit app N", "AUDIT demo 1", Command{Verb: VerbAudit, App: "demo", N: 1, Text: "audit demo 1"}},

		// grant
		{"grant everywhere", "grant @ana deployer",
			Command{Verb: VerbGrant, User: "ana", Role: "deployer", Text: "grant @ana deployer"}},
		{"grant app env for", "/grant @ana deployer accounting production for 2h",
			Command{Verb: VerbGrant, User: "ana", Role: "deployer", App: "accounting", Env: "production", For: 2 * time.Hour,
				Text: "grant @ana deployer accounting production for 2h"}},
		{"grant app", "grant @bob deployer demo", Command{Verb: VerbGrant, User: "bob", Role: "deployer", App: "demo", Text: "grant @bob deployer demo"}},
		{"grant for without app", "GRANT @ana admin FOR 90m",
			Command{Verb: VerbGrant, User: "ana", Role: "admin", For: 90 * time.Minute, Text: "grant @ana admin for 1h30m"}},
		{"grant app for", "grant @ana deployer demo for 1d",
			Command{Verb: VerbGrant, User: "ana", Role: "deployer", App: "demo", For: 24 * time.Hour, Text: "grant @ana deployer demo for 1d"}},
		{"grant max duration", "grant @ana deployer for 90d",
			Command{Verb: VerbGrant, User: "ana", Role: "deployer", For: MaxLockFor, Text: "grant @ana deployer for 12w6d"}},
		{"grant user name keeps case and punctuation", "grant @Ana.Lopez_2-x on-call_2",
			Command{Verb: VerbGrant, User: "Ana.Lopez_2-x", Role: "on-call_2", Text: "grant @Ana.Lopez_2-x on-call_2"}},
		{"grant user name of digits", "grant @1337 deployer",
			Command{Verb: VerbGrant, User: "1337", Role: "deployer", Text: "grant @1337 deployer"}},
		{"grant slack mention", "grant <@U024BE7LH> deployer",
			Command{Verb: VerbGrant, User: "U024BE7LH", UserIsID: true, Role: "deployer", Text: "grant <@U024BE7LH> deployer"}},
		{"grant slack mention with label", "grant <@U1|ana> deployer accounting staging",
			Command{Verb: VerbGrant, User: "U1", UserIsID: true, Role: "deployer", App: "accounting", Env: "staging", Text: "grant <@U1> deployer accounting staging"}},
		{"grant discord nick mention", "grant <@!80351110224678912> deployer for 1w",
			Command{Verb: VerbGrant, User: "80351110224678912", UserIsID: true, Role: "deployer", For: 7 * 24 * time.Hour, Text: "grant <@80351110224678912> deployer for 1w"}},
		{"grant discord mention", "grant <@80351110224678912> deployer",
			Command{Verb: VerbGrant, User: "80351110224678912", UserIsID: true, Role: "deployer", Text: "grant <@80351110224678912> deployer"}},
		{"grant addressed to the bot", "<@UBOT> grant <@U024BE7LH> deployer",
			Command{Verb: VerbGrant, User: "U024BE7LH", UserIsID: true, Role: "deployer", Text: "grant <@U024BE7LH> deployer"}},
		{"grant quoted words", `grant "@ana" 'deployer' "accounting"`,
			Command{Verb: VerbGrant, User: "ana", Role: "deployer", App: "accounting", Text: "grant @ana deployer accounting"}},
		{"grant name that looks like an id", "grant @U024BE7LH deployer",
			Command{Verb: VerbGrant, User: "U024BE7LH", Role: "deployer", Text: "grant @U024BE7LH deployer"}},
		{"grant role named like an app", "grant @ana accounting",
			Command{Verb: VerbGrant, User: "ana", Role: "accounting", Text: "grant @ana accounting"}},

		// revoke
		{"revoke everywhere", "revoke @ana deployer", Command{Verb: VerbRevoke, User: "ana", Role: "deployer", Text: "revoke @ana deployer"}},
		{"revoke app env", "/revoke @ana deployer accounting production",
			Command{Verb: VerbRevoke, User: "ana", Role: "deployer", App: "accounting", Env: "production", Text: "revoke @ana deployer accounting production"}},
		{"revoke mention", "revoke <@!80351110224678912> admin demo",
			Command{Verb: VerbRevoke, User: "80351110224678912", UserIsID: true, Role: "admin", App: "demo", Text: "revoke <@80351110224678912> admin demo"}},

		// here, away, admins
		{"here", "here", Command{Verb: VerbHere, Text: "here"}},
		{"here for", "/here for 8h", Command{Verb: VerbHere, For: 8 * time.Hour, Text: "here for 8h"}},
		{"here for compound", "Here For 1h30m", Command{Verb: VerbHere, For: 90 * time.Minute, Text: "here for 1h30m"}},
		{"away", "away", Command{Verb: VerbAway, Text: "away"}},
		{"admins", "@switchman admins", Command{Verb: VerbAdmins, Text: "admins"}},
		{"help grant", "grant --help", Command{Verb: VerbHelp, Topic: "grant", Text: "help grant"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Run {
				t.Fatalf("Parse(%q): got kind %v (reply %q), want run", tt.in, got.Kind, got.Reply)
			}
			if got.Cmd != tt.want {
				t.Errorf("Parse(%q):\ngot  %+v\nwant %+v", tt.in, got.Cmd, tt.want)
			}
			if got.Cmd.Verb != VerbHelp && got.Reply != "" {
				t.Errorf("Parse(%q): got reply %q, want none", tt.in, got.Reply)
			}
			// Text is canonical: it parses back to the same command.
			again := Parse(got.Cmd.Text, testCat(), Options{})
			if again.Kind != Run || again.Cmd != got.Cmd {
				t.Errorf("Parse(%q) (the Text of %q): got %v %+v, want run %+v", got.Cmd.Text, tt.in, again.Kind, again.Cmd, got.Cmd)
			}
		})
	}
}

func TestParseBotName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		bot  string
		want ResultKind
	}{
		{"configured name", "@Deployer deploy demo 1", "deployer", Run},
		{"configured name with at sign", "@deployer deploy demo 1", "@deployer", Run},
		{"default name not stripped when renamed", "@switchman deploy demo 1", "deployer", Reply},
		{"name must end the word", "@switchmanx deploy demo 1", "", Reply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{BotName: tt.bot})
			if got.Kind != tt.want {
				t.Errorf("Parse(%q, BotName %q): got %v (reply %q), want %v", tt.in, tt.bot, got.Kind, got.Reply, tt.want)
			}
		})
	}
}

func TestParseIgnore(t *testing.T) {
	for _, in := range []string{"", " ", "\t \t", "\n", " \r\n "} {
		t.Run(strconv.Quote(in), func(t *testing.T) {
			got := Parse(in, testCat(), Options{})
			if got != (Result{Kind: Ignore}) {
				t.Errorf("Parse(%q): got %+v, want a bare Ignore", in, got)
			}
		})
	}
}

const (
	usageDeploy   = "\nusage: deploy APP BUILD [to ENV] [--dry-run] [--force \"reason\"]"
	usageRollback = "\nusage: rollback APP [ENV] [to BUILD]"
	usageLock     = "\nusage: lock deploys [APP] [ENV] [for DURATION] reason…"
	usageUnlock   = "\nusage: unlock deploys [APP] [ENV]"
	usageHistory  = "\nusage: history [APP] [ENV] [N]"
	usageCancel   = "\nusage: cancel APP [ENV]"
	usageAudit    = "\nusage: audit [APP] [N]"
	usageGrant    = "\nusage: grant @USER ROLE [APP] [ENV] [for DURATION]"
	usageRevoke   = "\nusage: revoke @USER ROLE [APP] [ENV]"
	usageHere     = "\nusage: here [for DURATION]"
	usageConfirm  = "\nusage: deploy confirm ID"
	usageAbort    = "\nusage: deploy abort ID"
	usageStats    = "\nusage: stats APP [ENV] [WINDOW]"
	usageBoard    = "\nusage: train board APP BUILD [to ENV] [on TRAIN]"
	usageLeave    = "\nusage: train leave APP [on TRAIN]"
	usageTCancel  = "\nusage: train cancel [TRAIN] reason…"
	usageDepart   = "\nusage: train depart [TRAIN] now"
	// usageTrain follows a rejection of the bare train: it lists the actions.
	usageTrain = "\nusage: train" +
		"\n       train board APP BUILD [to ENV] [on TRAIN]" +
		"\n       train leave APP [on TRAIN]" +
		"\n       train cancel [TRAIN] reason…" +
		"\n       train depart [TRAIN] now"
	// validDeployID ends every reply about a bad deploy id, before the usage.
	validDeployID = "; a deploy id is the UTC date and time and 6 lowercase hex digits, e.g. 20261123-124158-b25a0a"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want is the whole reply when exact is set, else substrings of it.
		want  []string
		exact bool
		cat   Catalog // testCat() when nil
	}{
		// Addressing without a command.
		{name: "only bot name", in: "@switchman", want: []string{`Try "help"`}},
		// Look-alike app, env or "for" in a lock: taken for the reason,
		// each would widen the lock or make it permanent.
		{name: "lock Cyrillic app", in: "lock deploys \u0430ccounting db migration", want: []string{"looks like the app accounting but is written with other characters"}},
		{name: "lock full-width app", in: "lock deploys \uff41\uff43\uff43\uff4f\uff55\uff4e\uff54\uff49\uff4e\uff47 db migration", want: []string{"looks like the app accounting"}},
		{name: "lock full-width env", in: "lock deploys accounting \uff50\uff52\uff4f\uff44\uff55\uff43\uff54\uff49\uff4f\uff4e db migration", want: []string{"looks like the env production", `lock deploys accounting "…"`}},
		{name: "lock joined for", in: "lock deploys accounting f\u200dor 2h db migration", want: []string{`looks like "for" but is written with other characters`}},
		{name: "lock Cyrillic for at the end", in: "lock deploys accounting db migration f\u043er 2h", want: []string{`looks like "for"`}},
		{name: "lock with a blank-looking letter", in: "lock deploys accounting\u3164production db", want: []string{"blank-looking character U+3164"}},
		// A flag spelt with full-width letters is no flag the bot knows:
		// refused, not read as words of the reason.
		{name: "full-width dry run after a reason", in: "deploy accounting 1 --force INC-42 \uff0d\uff0d\uff44\uff52\uff59-run", want: []string{"unknown"}},
		{name: "only mention", in: "<@U123ABC>", want: []string{`Try "help"`}},
		{name: "only slash", in: " / ", want: []string{`Try "help"`}},
		{name: "bot name and slash", in: "@switchman /", want: []string{`Try "help"`}},

		// Unknown commands.
		{name: "unknown command with suggestion", in: "deplyo accounting 1", exact: true,
			want: []string{`unknown command "deplyo"; did you mean "deploy"? try "help" for the list of commands`}},
		{name: "unknown command", in: "frobnicate", exact: true,
			want: []string{`unknown command "frobnicate"; try "help" for the list of commands`}},
		{name: "unknown command prefix", in: "/hist", want: []string{`did you mean "history"?`}},
		{name: "mention of someone else later", in: "<@U1> <@U2> deploy demo 1", want: []string{`unknown command "<@U2>"`}},

		// Apps and envs.
		{name: "unknown app", in: "deploy acounting 1", exact: true,
			want: []string{`unknown app "acounting"; did you mean "accounting"? known apps: accounting, demo` + usageDeploy}},
		{name: "unknown app no suggestion", in: "deploy zzz 1", exact: true,
			want: []string{`unknown app "zzz"; known apps: accounting, demo` + usageDeploy}},
		{name: "app is case sensitive", in: "deploy Accounting 1", want: []string{`unknown app "Accounting"; did you mean "accounting"?`}},
		{name: "unknown env", in: "deploy accounting 1 to prod", exact: true,
			want: []string{`unknown env "prod" for accounting; did you mean "production"? known envs: production, staging` + usageDeploy}},
		{name: "unknown env transposed", in: "rollback demo stagnig", want: []string{`did you mean "staging"?`, usageRollback}},

		// deploy
		{name: "deploy alone", in: "deploy", want: []string{"deploy needs an app and a build; known apps: accounting, demo", usageDeploy}},
		{name: "deploy no build", in: "deploy accounting", want: []string{"deploy needs a build after the app", usageDeploy}},
		{name: "deploy to without build", in: "deploy accounting to production", want: []string{"deploy needs a build after the app"}},
		{name: "deploy env as build", in: "deploy accounting production",
			want: []string{`"production" is an env of accounting, not a build; the build comes first: deploy accounting BUILD to production`}},
		{name: "deploy env without to", in: "deploy accounting 1 production", want: []string{`unexpected word "production"; write "to" before the env: ` + suggest.Command("deploy accounting 1 to production")}},
		{name: "deploy to without env", in: "deploy accounting 1 to", want: []string{`"to" needs an env; known envs of accounting: production, staging`}},
		{name: "deploy extra word", in: "deploy accounting 1 to production now", exact: true, want: []string{`unexpected word "now"` + usageDeploy}},
		{name: "deploy unknown flag typo", in: "deploy accounting 1 --dryrun",
			want: []string{`unknown flag "--dryrun"; did you mean --dry-run? deploy takes --dry-run and --force`, usageDeploy}},
		{name: "deploy unknown flag typo beats its value", in: `deploy accounting 1 --forse "INC-42"`, want: []string{`did you mean --force?`}},
		{name: "deploy unknown short flag", in: "deploy accounting 1 -f", want: []string{`unknown flag "-f"; deploy takes --dry-run and --force`}},
		{name: "deploy flag with value", in: "deploy accounting 1 --dry-run=yes", want: []string{"--dry-run takes no value"}},
		{name: "deploy flag twice", in: "deploy accounting 1 --dry-run --dry-run", want: []string{`"--dry-run" is written twice; write it once: ` + suggest.Command("deploy accounting 1 --dry-run")}},
		{name: "deploy force without reason", in: "deploy accounting 1 --force", want: []string{`--force needs a reason, e.g. --force "INC-42 hotfix"`, usageDeploy}},
		{name: "deploy force empty reason", in: `deploy accounting 1 --force ""`, want: []string{"--force needs a reason"}},
		{name: "deploy force blank reason", in: `deploy accounting 1 --force '   '`, want: []string{"--force needs a reason"}},
		{name: "deploy force before flag", in: "deploy accounting 1 --force --dry-run", want: []string{"--force needs a reason"}},
		{name: "deploy force swallows target", in: "deploy accounting 1 --force urgent to production",
			want: []string{`the --force reason "urgent to production" seems to hold the target ("to" "production"); put "to ENV" before --force, or quote the reason`}},
		{name: "deploy force swallows misspelt target", in: "deploy accounting 1 --force urgent to prod", want: []string{`seems to hold the target ("to" "prod")`}},
		// Ending with "to WORD", the reason reads as naming the target,
		// known env or not: run, it would deploy to the default env.
		{name: "deploy force swallows abbreviated target", in: "deploy accounting 1 --force urgent to stage", want: []string{`seems to hold the target ("to" "stage")`}},
		{name: "deploy force swallows short target", in: "deploy demo 1 --force INC-42 to prd --dry-run", want: []string{`seems to hold the target ("to" "prd")`}},
		{name: "deploy missing closing quote", in: `deploy accounting 1 --force "INC-42`,
			want: []string{`missing closing quote: '"' opens "INC-42" but nothing closes it`, usageDeploy}},
		{name: "deploy missing closing apostrophe", in: `deploy accounting 1 --force 'INC-42`,
			want: []string{`missing closing quote: "'" opens "INC-42" but nothing closes it; end the quoted text with "'"`}},
		{name: "deploy empty build", in: `deploy accounting ""`, want: []string{"an empty quoted word stands where the build goes"}},

		// deploy confirm, deploy abort
		{name: "confirm without id", in: "deploy confirm", exact: true,
			want: []string{"the id of the deploy to confirm is missing, e.g. \ue000deploy confirm 20261123-124158-b25a0a\ue001" + usageConfirm}},
		{name: "abort without id", in: "deploy abort", exact: true,
			want: []string{"the id of the deploy to abort is missing, e.g. \ue000deploy abort 20261123-124158-b25a0a\ue001" + usageAbort}},
		{name: "confirm a build", in: "deploy confirm 1337", exact: true,
			want: []string{`"1337" is not a deploy id` + validDeployID + usageConfirm}},
		{name: "abort a word", in: "deploy abort latest", exact: true,
			want: []string{`"latest" is not a deploy id` + validDeployID + usageAbort}},
		{name: "confirm capitals", in: "deploy confirm 20261123-124158-B25A0A", exact: true,
			want: []string{`deploy id "20261123-124158-B25A0A" has capitals; deploy ids are lower case: 20261123-124158-b25a0a` + validDeployID + usageConfirm}},
		{name: "confirm empty id", in: `deploy confirm ""`, exact: true, want: []string{"the deploy id is empty" + validDeployID + usageConfirm}},
		{name: "confirm id with space", in: `deploy confirm "20261123 124158-b25a0a"`, want: []string{`deploy id "20261123 124158-b25a0a" contains a space`, validDeployID}},
		{name: "confirm id short hex", in: "deploy confirm 20261123-124158-b25a0", want: []string{`"20261123-124158-b25a0" is not a deploy id`, usageConfirm}},
		{name: "confirm id long hex", in: "deploy confirm 20261123-124158-b25a0a0", want: []string{"is not a deploy id", usageConfirm}},
		{name: "confirm id non-hex", in: "deploy confirm 20261123-124158-b25a0g", want: []string{"is not a deploy id", usageConfirm}},
		{name: "confirm id letter in date", in: "deploy confirm 2026112a-124158-b25a0a", want: []string{"is not a deploy id", usageConfirm}},
		{name: "confirm id hex in time", in: "deploy confirm 20261123-12415f-b25a0a", want: []string{"is not a deploy id", usageConfirm}},
		{name: "confirm id without dashes", in: "deploy confirm 20261123124158b25a0a", want: []string{"is not a deploy id", usageConfirm}},
		{name: "confirm id with underscores", in: "deploy confirm 20261123_124158_b25a0a", want: []string{"is not a deploy id", usageConfirm}},
		{name: "confirm id trailing dash", in: "deploy confirm 20261123-124158-b25a0a-", want: []string{"is not a deploy id", usageConfirm}},
		{name: "confirm id short date", in: "deploy confirm 2026112-124158-b25a0a", want: []string{"is not a deploy id", usageConfirm}},
		{name: "confirm extra word", in: "deploy confirm " + deployID + " now", exact: true, want: []string{`unexpected word "now"` + usageConfirm}},
		{name: "abort two ids", in: "deploy abort " + deployID + " 20261123-124158-b25a0b", exact: true, want: []string{`two deploy ids are named, "` + deployID + `" and "20261123-124158-b25a0b": send the deploy abort again with the one you mean` + usageAbort}},
		{name: "confirm with target", in: "deploy confirm " + deployID + " to production", exact: true, want: []string{`unexpected word "to"` + usageConfirm}},
		{name: "confirm flag", in: "deploy confirm " + deployID + " --dry-run", exact: true,
			want: []string{`unknown flag "--dry-run"; deploy confirm takes no flags` + usageConfirm}},
		{name: "abort flag before id", in: "deploy abort --force " + deployID, want: []string{`unknown flag "--force"; deploy abort takes no flags`, usageAbort}},
		{name: "flag before confirm", in: "deploy --dry-run confirm " + deployID, exact: true,
			want: []string{`"confirm" goes right after deploy, and takes no flags: deploy confirm ID` + usageDeploy}},
		{name: "id before keyword", in: "deploy " + deployID + " abort", exact: true,
			want: []string{`"20261123-124158-b25a0a" is a deploy id, not an app; write ` + suggest.Command("deploy confirm 20261123-124158-b25a0a") + ` or ` + suggest.Command("deploy abort 20261123-124158-b25a0a") + usageDeploy}},
		{name: "misspelt confirm", in: "deploy confrim " + deployID, exact: true,
			want: []string{`"confrim" is not an app; did you mean ` + suggest.Command("deploy confirm 20261123-124158-b25a0a") + `? known apps: accounting, demo` + usageDeploy}},
		{name: "misspelt abort", in: "deploy abrot " + deployID, want: []string{`did you mean ` + suggest.Command("deploy abort 20261123-124158-b25a0a") + `?`}},
		{name: "quoted keyword is a word", in: `deploy "confirm" ` + deployID, exact: true,
			want: []string{`"confirm" is not an app; did you mean ` + suggest.Command("deploy confirm 20261123-124158-b25a0a") + `? known apps: accounting, demo` + usageDeploy}},
		{name: "confirm without deploy", in: "confirm " + deployID, exact: true,
			want: []string{`unknown command "confirm"; write it after deploy: deploy confirm ID`}},
		{name: "abort without deploy", in: "/Abort " + deployID, exact: true,
			want: []string{`unknown command "Abort"; write it after deploy: deploy abort ID`}},
		{name: "keyword after another verb", in: "rollback abort", want: []string{`unknown app "abort"`, usageRollback}},

		// rollback
		{name: "rollback alone", in: "rollback", want: []string{"rollback needs an app", usageRollback}},
		{name: "rollback build without to", in: "rollback accounting 1336",
			want: []string{`unknown env "1336" for accounting; known envs: production, staging; to roll back to a build, write "to": ` + suggest.Command("rollback accounting to 1336")}},
		{name: "rollback env and build without to", in: "rollback accounting staging 1336",
			want: []string{`unexpected word "1336"; to roll back to a build, write "to": ` + suggest.Command("rollback accounting staging to 1336") + usageRollback}},
		{name: "rollback env and bad build without to", in: "rollback accounting staging $(id)", want: []string{`unexpected word "$(id)"`, usageRollback}},
		{name: "rollback to without build", in: "rollback accounting to", want: []string{`"to" needs a build`}},
		{name: "rollback from without build", in: "rollback accounting from", want: []string{`"from" needs the build that runs now`}},
		{name: "rollback from bad build", in: "rollback accounting from $(id)", want: []string{`contains '$', which is not allowed`}},
		{name: "rollback from before to", in: "rollback accounting from 1337 to 1335", want: []string{`"to BUILD" goes before "from BUILD": ` + suggest.Command("rollback accounting to 1335 from 1337"), usageRollback}},
		{name: "rollback to env", in: "rollback accounting to staging",
			want: []string{`"staging" is an env of accounting; name the env without "to": ` + suggest.Command("rollback accounting staging")}},
		{name: "rollback extra word", in: "rollback accounting staging to 1336 now", want: []string{`unexpected word "now"`, usageRollback}},
		{name: "rollback bad build", in: "rollback accounting staging to ..", want: []string{`build ".." is not a build name`}},
		{name: "rollback flag", in: "rollback accounting --dry-run", want: []string{`unknown flag "--dry-run"; rollback takes no flags`, usageRollback}},

		// lock
		{name: "lock without reason", in: "/lock deploys", exact: true,
			want: []string{"a lock must say why: add a reason, e.g. lock deploys accounting production for 2h db migration" + usageLock}},
		{name: "lock app without reason", in: "lock deploys accounting", want: []string{"a lock must say why"}},
		{name: "lock app env for without reason", in: "lock deploys accounting production for 2h", want: []string{"a lock must say why"}},
		{name: "lock empty quoted reason", in: `lock deploys accounting ""`, want: []string{"a lock must say why"}},
		{name: "lock for without a duration", in: "lock deploys accounting production for",
			want: []string{`"for" needs a duration after it, and then the reason, e.g. lock deploys accounting production for 2h db migration (to give "for" as the reason, quote it)`}},
		{name: "lock everything for without a duration", in: "lock deploys for", want: []string{`"for" needs a duration after it`}},
		// A duration at the end written otherwise than the bot reads it:
		// taken for words of the reason, the lock would never expire.
		{name: "lock trailing hrs", in: "lock deploys accounting db migration for 2hrs", exact: true,
			want: []string{`"2hrs" reads as a duration but is not written as one; write it like 30m, 2h, 1d, 1h30m or 1w (to end the reason with "for", quote it)` + usageLock}},
		{name: "lock trailing min", in: "lock deploys accounting db migration for 30min", want: []string{`"30min" reads as a duration`}},
		{name: "lock trailing decimal", in: "lock deploys accounting db migration for 1.5h", want: []string{`"1.5h" reads as a duration`}},
		{name: "lock trailing decimal comma apart", in: "lock deploys accounting db migration for 0,5 days", want: []string{`"0,5 days" reads as a duration`}},
		{name: "lock trailing full stop", in: "lock deploys accounting db migration for 2h.", want: []string{`"2h." reads as a duration`}},
		{name: "lock trailing capital unit", in: "lock deploys accounting db migration for 2 Hours", want: []string{`"2 Hours" reads as a duration`}},
		{name: "lock trailing number and unit apart", in: "lock deploys db migration for 30 m", want: []string{`"30 m" reads as a duration`}},
		{name: "lock trailing full-width digit", in: "lock deploys accounting db migration for \uff12h", want: []string{`reads as a duration`}},
		{name: "lock leading full-width digit", in: "lock deploys accounting for \uff12h db migration", want: []string{`invalid duration`, `(to start the reason with "for", quote it)`}},
		// A typo of a short app name: taken for the reason, it would lock
		// every app.
		{name: "lock three-letter typo of an app", in: "lock deploys dmo db migration",
			want: []string{`unknown app "dmo"; did you mean ` + suggest.Command("lock deploys demo db migration") + `?`, `to lock every app, quote the reason: lock deploys "…"`}},
		{name: "lock three-letter transposed app", in: "lock deploys wbe db migration", cat: shortAppCat(),
			want: []string{`unknown app "wbe"; did you mean ` + suggest.Command("lock deploys web db migration") + `?`}},
		// A second env or app after the target: taken for the reason, it
		// would stay unlocked.
		{name: "lock two envs", in: "lock deploys accounting staging production db migration", exact: true,
			want: []string{`a lock covers one env, and "production" is another: lock each (lock deploys accounting production …), or every env of accounting (lock deploys accounting …); to start the reason with "production", quote it: lock deploys accounting staging "…"` + usageLock}},
		{name: "lock two apps", in: "lock deploys accounting demo db migration",
			want: []string{`a lock covers one app, and "demo" is another`, `quote it: lock deploys accounting "…"`}},
		{name: "lock two apps after an env", in: "lock deploys accounting production demo for 2h",
			want: []string{`a lock covers one app, and "demo" is another`, `quote it: lock deploys accounting production "…"`}},
		{name: "train cancel two trains", in: "train cancel daily weekly db migration running", exact: true,
			want: []string{`one train cancel calls off one train, and "weekly" is another: cancel each (train cancel weekly reason…); to start the reason with "weekly", quote it: train cancel daily "…"` + "\nusage: train cancel [TRAIN] reason…"}},
		// The bot writes targets as APP/ENV; taken for the reason, such a
		// word would lock every app.
		{name: "lock app slash env", in: "lock deploys accounting/production db migration", exact: true,
			want: []string{`write the app and the env apart: lock deploys accounting production …, or, to lock every app, quote the reason: lock deploys "…"` + usageLock}},
		{name: "lock app slash", in: "lock deploys accounting/ db migration", want: []string{"lock deploys accounting …"}},
		{name: "lock app slash env for", in: "lock deploys demo/staging for 2h flaky tests", want: []string{"lock deploys demo staging …"}},
		{name: "lock alone", in: "lock", want: []string{`write "lock deploys"`, usageLock}},
		{name: "lock without deploys", in: "lock accounting db", want: []string{`write "lock deploys" before the app: lock deploys accounting`}},
		{name: "lock misspelt app", in: "lock deploys acounting db migration",
			want: []string{`unknown app "acounting"; did you mean ` + suggest.Command("lock deploys accounting db migration") + `?`, `to lock every app, quote the reason`}},
		{name: "lock env without app", in: "lock deploys production db migration", want: []string{`"production" is an env; name the app first`}},
		{name: "lock misspelt env", in: "lock deploys accounting prod db migration",
			want: []string{`unknown env "prod" for accounting; did you mean "production"?`, `to lock every env of accounting, quote the reason`}},
		{name: "lock bad duration", in: "lock deploys for 2x db", want: []string{`invalid duration "2x"; write it like 30m, 2h, 1d, 1h30m or 1w`, usageLock}},
		{name: "lock duration in words", in: "lock deploys for 2 hours db", want: []string{`invalid duration "2"`}},
		{name: "lock duration zero", in: "lock deploys for 0m db", want: []string{`duration "0m" is zero`}},
		{name: "lock duration too long", in: "lock deploys for 91d db", want: []string{`duration "91d" is too long; the limit is 90d`}},
		{name: "lock duration overflow", in: "lock deploys for 999999w db", want: []string{"is too long"}},
		{name: "lock reason looks like duration", in: "lock deploys for 3rd party outage", want: []string{`invalid duration "3rd"`, `quote it`}},
		// A trailing "for DURATION" out of range would leave it in the
		// reason, and the lock would never expire.
		{name: "lock trailing duration zero", in: "lock deploys accounting db migration for 0m", want: []string{`duration "0m" is zero`, `quote it`}},
		{name: "lock trailing duration too long", in: "lock deploys accounting production db migration for 91d", want: []string{`duration "91d" is too long; the limit is 90d`, `quote it`}},
		{name: "lock trailing duration overflow", in: "lock deploys db migration for 999999w", want: []string{"is too long"}},
		{name: "lock flag", in: "lock deploys db --now", want: []string{`unknown flag "--now"; lock takes no flags`}},

		// unlock
		{name: "unlock alone", in: "unlock", want: []string{`write "unlock deploys"`, usageUnlock}},
		{name: "unlock unknown app", in: "unlock deploys acounting", want: []string{`unknown app "acounting"`, usageUnlock}},
		{name: "unlock unknown env", in: "unlock deploys accounting prod", want: []string{`unknown env "prod" for accounting`}},
		{name: "unlock extra word", in: "unlock deploys accounting production now", want: []string{`unexpected word "now"`}},

		// status, history, cancel, help, whoami
		{name: "status unknown app", in: "status acounting", want: []string{`unknown app "acounting"`}},
		{name: "status env", in: "status accounting production", exact: true,
			want: []string{"status takes no env; " + suggest.Command("status accounting") + " shows every env of accounting\nusage: status [APP]"}},
		{name: "status extra word", in: "status accounting now", want: []string{`unexpected word "now"`, "\nusage: status [APP]"}},
		{name: "status word not an env", in: "status accounting testing", want: []string{`unexpected word "testing"`}},
		{name: "history zero", in: "history 0", exact: true, want: []string{`N must be a whole number from 1 to 100, not "0"` + usageHistory}},
		{name: "history too many", in: "history accounting 101", want: []string{`not "101"`}},
		{name: "history negative", in: "history -5", want: []string{`not "-5"`}},
		{name: "history huge", in: "history 99999999999999999999999", want: []string{`not "99999999999999999999999"`}},
		{name: "history unknown env", in: "history accounting prod 5", want: []string{`unknown env "prod" for accounting`}},
		{name: "history extra word", in: "history accounting production extra", want: []string{`unexpected word "extra"`}},
		{name: "cancel alone", in: "cancel", want: []string{"cancel needs an app", usageCancel}},
		{name: "cancel unknown env", in: "cancel accounting prod", want: []string{`did you mean "production"?`}},
		{name: "cancel extra word", in: "cancel accounting production now", want: []string{`unexpected word "now"`}},
		{name: "help unknown topic", in: "help deply",
			want: []string{`no help for "deply"; did you mean "deploy"? commands: deploy, rollback, lock, unlock, train, status, history, stats, cancel, audit, grant, revoke, here, away, admins, help, whoami`}},
		{name: "help extra word", in: "help deploy now", want: []string{`unexpected word "now"`, "\nusage: help [COMMAND]"}},
		{name: "help of a form after another command", in: "help rollback confirm", want: []string{`unexpected word "confirm"`}},
		{name: "help of a form by its keyword and another", in: "help confirm abort", want: []string{`unexpected word "abort"`}},
		{name: "help of a form with a placeholder", in: "help deploy APP", want: []string{`unexpected word "APP"`}},
		{name: "whoami extra word", in: "whoami now", exact: true, want: []string{"unexpected word \"now\"\nusage: whoami"}},

		// train, with two trains in the catalog
		{name: "train unknown action", in: "train bord accounting 1", exact: true,
			want: []string{`unknown train action "bord"; did you mean "train board"? train takes board, leave, cancel, depart, or nothing to list the trains` + usageTrain}},
		{name: "train unknown action no suggestion", in: "train go", want: []string{`unknown train action "go"; train takes board`, usageTrain}},
		{name: "train list", in: "train list", exact: true, want: []string{`"train" alone lists the trains; write just train` + usageTrain}},
		{name: "train name first", in: "train daily", want: []string{`"daily" is a train; say first what to do with it, e.g. train board APP BUILD on daily`}},
		{name: "train flag before action", in: "train --now depart daily now", want: []string{`"depart" goes right after train, and takes no flags`, usageTrain}},
		{name: "train action flag", in: "train depart daily now --force", exact: true, want: []string{`unknown flag "--force"; train depart takes no flags` + usageDepart}},
		{name: "train board alone", in: "train board", exact: true, want: []string{"train board needs an app and a build; known apps: accounting, demo" + usageBoard}},
		{name: "train board no build", in: "train board accounting", exact: true,
			want: []string{"train board needs a build after the app, e.g. train board accounting 1337" + usageBoard}},
		{name: "train board no build before on", in: "train board accounting on daily", want: []string{"train board needs a build after the app"}},
		{name: "train board no build before to", in: "train board accounting to production", want: []string{"train board needs a build after the app"}},
		{name: "train board unknown app", in: "train board acounting 1 on daily", want: []string{`unknown app "acounting"; did you mean "accounting"?`, usageBoard}},
		{name: "train board unknown train", in: "train board accounting 1 on dayly", exact: true,
			want: []string{`unknown train "dayly"; did you mean "daily"? known trains: daily, weekly` + usageBoard}},
		{name: "train board unknown env", in: "train board accounting 1 to prod on daily", want: []string{`unknown env "prod" for accounting; did you mean "production"?`}},
		{name: "train board env as build", in: "train board accounting production on daily",
			want: []string{`"production" is an env of accounting, not a build; the build comes first: train board accounting BUILD to production`}},
		{name: "train board train as build", in: "train board accounting daily",
			want: []string{`"daily" is a train, not a build; the build comes first: train board accounting BUILD on daily`}},
		{name: "train board train first", in: "train board daily accounting 1",
			want: []string{`"daily" is a train; name it last: train board APP BUILD on daily`}},
		{name: "train board env without to", in: "train board accounting 1 staging on daily", want: []string{`unexpected word "staging"; write "to" before the env: ` + suggest.Command("train board accounting 1 to staging on daily")}},
		{name: "train board train without on", in: "train board accounting 1 daily", want: []string{`unexpected word "daily"; write "on" before the train: ` + suggest.Command("train board accounting 1 on daily")}},
		{name: "train board to without env", in: "train board accounting 1 on daily to", want: []string{`"to" needs an env; known envs of accounting: production, staging`}},
		{name: "train board on without train", in: "train board accounting 1 on", want: []string{`"on" needs a train; trains: daily, weekly`}},
		{name: "train board two trains", in: "train board accounting 1 on daily on weekly", want: []string{`two trains are named, "daily" and "weekly": send the train board again with the one you mean`}},
		{name: "train board extra word", in: "train board accounting 1 on daily now", exact: true, want: []string{`unexpected word "now"` + usageBoard}},
		{name: "train board bad build", in: "train board accounting 1..2 on daily", want: []string{`build "1..2" contains ".."`}},
		{name: "train board which train", in: "train board accounting 1 to staging", exact: true,
			want: []string{"which train? there are 2; name one, e.g. " + suggest.Command("train board accounting 1 to staging on daily") + " (trains: daily, weekly)" + usageBoard}},
		{name: "train leave alone", in: "train leave", want: []string{"train leave needs an app; known apps: accounting, demo", usageLeave}},
		{name: "train leave which train", in: "train leave demo", exact: true,
			want: []string{"which train? there are 2; name one, e.g. " + suggest.Command("train leave demo on daily") + " (trains: daily, weekly)" + usageLeave}},
		{name: "train leave train first", in: "train leave weekly", want: []string{`"weekly" is a train; name it last: train leave APP on weekly`}},
		{name: "train leave train without on", in: "train leave demo weekly", want: []string{`unexpected word "weekly"; write "on" before the train: ` + suggest.Command("train leave demo on weekly")}},
		{name: "train leave on without train", in: "train leave demo on", want: []string{`"on" needs a train; trains: daily, weekly`}},
		{name: "train leave unknown train", in: "train leave demo on montly", exact: true, want: []string{`unknown train "montly"; known trains: daily, weekly` + usageLeave}},
		{name: "train leave quoted train not shaped as a name", in: `train leave demo on "../../etc/passwd"`, want: []string{`unknown train "../../etc/passwd"`}},
		{name: "train leave unknown app", in: "train leave shop on weekly", want: []string{`unknown app "shop"`}},
		{name: "train leave unknown app on an unknown train", in: "train leave shop on nightly", want: []string{`unknown app "shop"`}},
		{name: "train leave quoted app not shaped as a name", in: `train leave "../etc" on weekly`, want: []string{`unknown app "../etc"`}},
		{name: "train leave app not shaped as a name on a quoted train", in: `train leave ../etc on "nightly"`, want: []string{`unknown app "../etc"`}},
		{name: "train leave env", in: "train leave demo to staging", want: []string{`unexpected word "to"`, usageLeave}},
		{name: "train leave extra word", in: "train leave demo on daily now", want: []string{`unexpected word "now"`}},
		{name: "train cancel without reason", in: "train cancel daily", exact: true,
			want: []string{"a train cancel must say why: add a reason, e.g. train cancel daily db migration running" + usageTCancel}},
		{name: "train cancel alone", in: "train cancel", want: []string{"a train cancel must say why"}},
		{name: "train cancel empty quoted reason", in: `train cancel daily ""`, want: []string{"a train cancel must say why"}},
		{name: "train cancel which train", in: "train cancel db migration", exact: true,
			want: []string{"which train? there are 2; name one, e.g. train cancel daily … (trains: daily, weekly)" + usageTCancel}},
		{name: "train cancel misspelt train", in: "train cancel dayly db migration",
			want: []string{`unknown train "dayly"; did you mean "daily"?`, `quote the reason: train cancel "…"`}},
		{name: "train cancel on train", in: "train cancel on daily db migration",
			want: []string{`name the train right after cancel, without "on": train cancel daily reason…`}},
		{name: "train cancel flag", in: "train cancel daily db --now", want: []string{`unknown flag "--now"; train cancel takes no flags`}},
		{name: "train depart without now", in: "train depart daily", exact: true,
			want: []string{"train depart needs the word now, so that no train leaves by accident: " + suggest.Command("train depart daily now") + usageDepart}},
		{name: "train depart alone", in: "train depart", want: []string{"train depart needs the word now, so that no train leaves by accident: train depart TRAIN now"}},
		{name: "train depart which train", in: "train depart now", exact: true,
			want: []string{"which train? there are 2; name one, e.g. " + suggest.Command("train depart daily now") + " (trains: daily, weekly)" + usageDepart}},
		{name: "train depart other word", in: "train depart daily today", want: []string{`unexpected word "today"; to send the train off now: ` + suggest.Command("train depart daily now")}},
		{name: "train depart quoted now", in: `train depart daily "now"`, want: []string{`unexpected word "now"; to send the train off now`}},
		{name: "train depart extra word", in: "train depart daily now please", exact: true, want: []string{`unexpected word "please"` + usageDepart}},
		{name: "train depart unknown train", in: "train depart dialy now", want: []string{`unknown train "dialy"; did you mean "daily"? known trains: daily, weekly`}},
		{name: "train depart now first", in: "train depart now daily", want: []string{"the train goes before now: " + suggest.Command("train depart daily now")}},
		{name: "train depart on train", in: "train depart on daily now", want: []string{`name the train right after depart, without "on": ` + suggest.Command("train depart daily now")}},
		{name: "train action without train", in: "board accounting 1", exact: true,
			want: []string{`unknown command "board"; write it after train: train board APP BUILD [to ENV] [on TRAIN]`}},
		{name: "depart without train", in: "/Depart daily now", want: []string{`unknown command "Depart"; write it after train: train depart [TRAIN] now`}},
		{name: "cancel a train", in: "cancel daily", exact: true,
			want: []string{`"daily" is a train; to call off its departure: train cancel daily reason…` + usageCancel}},
		{name: "unknown command near train", in: "trian", want: []string{`did you mean "train"?`}},

		// stats
		{name: "stats alone", in: "stats", exact: true, want: []string{"stats needs an app; known apps: accounting, demo" + usageStats}},
		{name: "stats unknown app", in: "stats acounting", want: []string{`unknown app "acounting"; did you mean "accounting"?`, usageStats}},
		{name: "stats env first", in: "stats production", want: []string{`"production" is an env; name the app first: stats APP production`}},
		{name: "stats unknown env", in: "stats accounting prod 7d", want: []string{`unknown env "prod" for accounting; did you mean "production"?`}},
		{name: "stats window too long", in: "stats accounting 366d", exact: true, want: []string{`window "366d" is too long; the limit is 365d` + usageStats}},
		{name: "stats window too many weeks", in: "stats accounting production 53w", want: []string{`window "53w" is too long; the limit is 365d`}},
		{name: "stats window zero", in: "stats accounting 0d", want: []string{`window "0d" is zero; give at least 1d, or omit it for 30d`}},
		{name: "stats window without unit", in: "stats accounting 30", exact: true, want: []string{`window "30" needs a unit: 30d for days, 30w for weeks` + usageStats}},
		{name: "stats window in hours", in: "stats accounting 12h", want: []string{`invalid window "12h"; write it as days or weeks, e.g. 7d, 30d or 2w`}},
		{name: "stats window compound", in: "stats accounting 1w2d", want: []string{`invalid window "1w2d"`}},
		{name: "stats window fraction", in: "stats accounting 1.5d", want: []string{`invalid window "1.5d"`}},
		{name: "stats window overflow", in: "stats accounting 99999999999999999999d", want: []string{`invalid window "99999999999999999999d"`}},
		{name: "stats window with for", in: "stats accounting production for 90d", exact: true,
			want: []string{`write the window without "for": stats accounting production 90d` + usageStats}},
		{name: "stats window before env", in: "stats accounting 7d production", want: []string{"the window goes last: stats accounting production 7d"}},
		{name: "stats window before app", in: "stats 7d accounting", want: []string{"the window goes last: stats accounting … 7d"}},
		{name: "stats extra word", in: "stats accounting production extra", want: []string{`unexpected word "extra"`}},
		{name: "stats flag", in: "stats accounting --all", want: []string{`unknown flag "--all"; stats takes no flags`}},
		{name: "unknown command near stats", in: "stat", want: []string{`did you mean "stats"?`}},

		// audit
		{name: "audit zero", in: "audit 0", exact: true, want: []string{`N must be a whole number from 1 to 200, not "0"` + usageAudit}},
		{name: "audit too many", in: "audit accounting 201", want: []string{`not "201"`, usageAudit}},
		{name: "audit unknown app", in: "audit acounting", want: []string{`unknown app "acounting"; did you mean "accounting"?`, usageAudit}},
		{name: "audit env", in: "audit accounting production 5", exact: true,
			want: []string{"audit takes no env; " + suggest.Command("audit accounting 5") + " shows every env of accounting" + usageAudit}},
		{name: "audit N first", in: "audit 5 accounting", want: []string{"N comes after the app: " + suggest.Command("audit accounting 5")}},
		{name: "audit N first, out of range", in: "audit 500 accounting", want: []string{`N must be a whole number from 1 to 200, not "500", and comes after the app: audit accounting N`}},
		{name: "audit extra word", in: "audit accounting now", want: []string{`unexpected word "now"`}},
		{name: "audit flag", in: "audit --all", want: []string{`unknown flag "--all"; audit takes no flags`}},

		// grant and revoke
		{name: "grant alone", in: "grant", exact: true, want: []string{"grant needs a user and a role, e.g. grant @ana deployer" + usageGrant}},
		{name: "grant no role", in: "grant @ana", exact: true, want: []string{"grant needs a role after the user, e.g. grant @ana deployer" + usageGrant}},
		{name: "grant mention no role", in: "grant <@U1|ana>", want: []string{"grant needs a role after the user, e.g. grant <@U1> deployer"}},
		{name: "grant bare name", in: "grant ana deployer", exact: true, want: []string{"write the user with an @: @ana, or mention them" + usageGrant}},
		{name: "grant role first", in: "grant deployer @ana accounting", exact: true, want: []string{"the role is written before the user; the user comes first: " + suggest.Command("grant @ana deployer accounting") + usageGrant}},
		{name: "grant role first mention", in: "grant deployer <@!123>", want: []string{"the user comes first: " + suggest.Command("grant <@123> deployer")}},
		{name: "grant lone at sign", in: "grant @ deployer", want: []string{`"@" needs a user name right after it, e.g. @ana`}},
		{name: "grant double at sign", in: "grant @@ana deployer", want: []string{`user name "@ana" contains '@', which is not allowed`}},
		{name: "grant broadcast", in: "grant @everyone deployer", want: []string{`"@everyone" notifies everyone, it is not a user`}},
		{name: "grant broadcast any case", in: "grant @Here deployer", want: []string{"notifies everyone"}},
		{name: "grant bare broadcast", in: "grant channel deployer", want: []string{`"channel" is not a user; write @name or mention one user`}},
		{name: "grant slack broadcast", in: "grant <!here> deployer", want: []string{`"<!here>" is not a user`}},
		{name: "grant channel mention", in: "grant <#C024BE7LR> deployer", want: []string{`"<#C024BE7LR>" is not a user`}},
		{name: "grant discord role mention", in: "grant <@&165511591545143296> deployer", want: []string{"mentions a chat role, not a user"}},
		{name: "grant unclosed mention", in: "grant <@U024BE7LH deployer", want: []string{`"<@U024BE7LH" is not a complete mention`}},
		{name: "grant unclosed label", in: "grant <@U1|ana deployer", want: []string{"is not a complete mention"}},
		{name: "grant empty mention", in: "grant <@> deployer", want: []string{`"<@>" is not a complete mention`}},
		{name: "grant mention with tail", in: "grant <@U1>x deployer", want: []string{`"<@U1>x" is not a complete mention`}},
		{name: "grant mention with punctuation id", in: "grant <@U-1> deployer", want: []string{"is not a complete mention"}},
		{name: "grant long mention id", in: "grant <@" + strings.Repeat("9", 65) + "> deployer", want: []string{"is 65 characters long; the limit is 64"}},
		{name: "grant long user name", in: "grant @" + strings.Repeat("n", 65) + " deployer", want: []string{"is 65 characters long; the limit is 64", "a user name is 1-64"}},
		{name: "grant name starting with dot", in: "grant @.ana deployer", want: []string{`user name ".ana" starts with '.'`}},
		{name: "grant name with dot dot", in: "grant @a..b deployer", want: []string{`user name "a..b" contains ".."`}},
		{name: "grant name with accent", in: "grant @aná deployer", want: []string{`user name "aná" contains the non-ASCII character 'á' (U+00E1)`}},
		{name: "grant role capitals", in: "grant @ana Deployer", exact: true, want: []string{`role "Deployer" has capitals; roles are lower case: deployer` + usageGrant}},
		{name: "grant role starting with digit", in: "grant @ana 1deployer", want: []string{`role "1deployer" starts with '1'; a role is a lowercase letter`}},
		{name: "grant role with dot", in: "grant @ana deploy.er", want: []string{`role "deploy.er" contains '.', which is not allowed`}},
		{name: "grant role too long", in: "grant @ana " + strings.Repeat("r", 33), want: []string{"is 33 characters long; the limit is 32"}},
		{name: "grant role empty", in: `grant @ana ""`, want: []string{"the role is empty"}},
		{name: "grant role quoted with space", in: `grant @ana "deploy er"`, want: []string{`role "deploy er" contains a space`}},
		{name: "grant unknown app", in: "grant @ana deployer acounting", want: []string{`unknown app "acounting"; did you mean "accounting"?`, usageGrant}},
		{name: "grant unknown env", in: "grant @ana deployer accounting prod", want: []string{`unknown env "prod" for accounting; did you mean "production"?`}},
		{name: "grant env without app", in: "grant @ana deployer production", exact: true,
			want: []string{`"production" is an env; name the app first: grant @ana deployer APP production` + usageGrant}},
		{name: "grant role missing", in: "grant @ana accounting production", exact: true,
			want: []string{`"accounting" is an app and "production" one of its envs: the role is missing: grant @ana ROLE accounting production` + usageGrant}},
		{name: "grant role missing unknown app", in: "grant @ana demo acounting",
			want: []string{`unknown app "acounting"; did you mean "accounting"?`, `; if "demo" is meant as the app, the role is missing: grant @ana ROLE demo …`}},
		{name: "grant extra word", in: "grant @ana deployer accounting production extra", want: []string{`unexpected word "extra"`}},
		{name: "grant for without duration", in: "grant @ana deployer for", exact: true,
			want: []string{`"for" needs a duration, e.g. grant @ana deployer accounting production for 2h` + usageGrant}},
		{name: "grant for not last", in: "grant @ana deployer for 2h accounting", want: []string{`"for DURATION" goes last`}},
		{name: "grant duration in words", in: "grant @ana deployer for 2 hours", want: []string{`"for DURATION" goes last`}},
		{name: "grant bad duration", in: "grant @ana deployer for 2x", want: []string{`invalid duration "2x"`, usageGrant}},
		{name: "grant duration zero", in: "grant @ana deployer for 0h", want: []string{`duration "0h" is zero; omit "for" to grant until revoked`}},
		{name: "grant duration too long", in: "grant @ana deployer for 91d", want: []string{`duration "91d" is too long; the limit is 90d (omit "for" to grant until revoked)`}},
		{name: "grant flag", in: "grant @ana deployer --force", want: []string{`unknown flag "--force"; grant takes no flags`, usageGrant}},
		{name: "revoke alone", in: "revoke", want: []string{"revoke needs a user and a role", usageRevoke}},
		{name: "revoke no role", in: "revoke <@U1>", want: []string{"revoke needs a role after the user, e.g. revoke <@U1> deployer"}},
		{name: "revoke for", in: "revoke @ana deployer for 2h", exact: true,
			want: []string{"revoke takes no duration: it takes the role back now, however long the grant had left" + usageRevoke}},
		{name: "revoke unknown env", in: "revoke @ana deployer demo prod", want: []string{`unknown env "prod" for demo`}},
		{name: "revoke extra word", in: "revoke @ana deployer demo staging now", want: []string{`unexpected word "now"`}},

		// here, away, admins
		{name: "here duration without for", in: "here 2h", exact: true, want: []string{`write "for" before the duration: ` + suggest.Command("here for 2h") + usageHere}},
		{name: "here for without duration", in: "here for", want: []string{`"for" needs a duration, e.g. here for 2h`}},
		{name: "here bad duration", in: "here for 2 hours", want: []string{`"for DURATION" goes last`}},
		{name: "here zero", in: "here for 0m", want: []string{`duration "0m" is zero; omit "for" for the default of 4h`}},
		{name: "here too long", in: "here for 13w", want: []string{`is too long; the limit is 90d (omit "for" for the default of 4h)`}},
		{name: "here extra word", in: "here now", want: []string{`unexpected word "now"`, usageHere}},
		{name: "away extra word", in: "away for 2h", exact: true, want: []string{"unexpected word \"for\"\nusage: away"}},
		{name: "admins extra word", in: "admins accounting", exact: true, want: []string{"unexpected word \"accounting\"\nusage: admins"}},
		{name: "unknown command near admins", in: "admin", want: []string{`did you mean "admins"?`}},

		// Whole-text refusals.
		{name: "too long", in: "deploy accounting " + strings.Repeat("1", 1000), exact: true,
			want: []string{"command too long (1018 bytes; the limit is 1000)"}},
		{name: "line break", in: "deploy accounting 1\ndeploy demo 1", want: []string{"command contains a line break (at byte 19); send one command per message"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cat := tt.cat
			if cat == nil {
				cat = testCat()
			}
			got := Parse(tt.in, cat, Options{})
			if got.Kind != Reply {
				t.Fatalf("Parse(%q): got kind %v (%+v), want reply", tt.in, got.Kind, got.Cmd)
			}
			if got.Cmd != (Command{Verb: got.Cmd.Verb}) {
				t.Errorf("Parse(%q): got a reply with command fields %+v, want only Verb", tt.in, got.Cmd)
			}
			if tt.exact {
				if got.Reply != tt.want[0] {
					t.Errorf("Parse(%q):\ngot reply  %q\nwant reply %q", tt.in, got.Reply, tt.want[0])
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(got.Reply, w) {
					t.Errorf("Parse(%q):\ngot reply %q\nwant it to contain %q", tt.in, got.Reply, w)
				}
			}
		})
	}
}

// TestParseHostile feeds input meant to break out of the grammar. None may
// run; each reply must stay short and must not carry the payload back raw.
func TestParseHostile(t *testing.T) {
	long := strings.Repeat("A", 10*1024)
	tests := []struct {
		name string
		in   string
		want string // in the reply
	}{
		{"path traversal build", "deploy accounting ../../etc/passwd", `build "../../etc/passwd" starts with '.'`},
		{"path traversal inside build", "deploy accounting 1/../../etc/passwd", `contains '/', which is not allowed`},
		{"dot build", "deploy accounting .", `build "." is not a build name`},
		{"dot dot build", "deploy accounting ..", `build ".." is not a build name`},
		{"dot dot inside build", "deploy accounting 1..2", `build "1..2" contains ".."`},
		{"path traversal app", "deploy ../../etc/passwd 1", `unknown app "../../etc/passwd"`},
		{"path traversal env", "deploy accounting 1 to ../../etc/passwd", `unknown env "../../etc/passwd" for accounting`},
		{"path traversal rollback target", "rollback accounting to ../../etc/passwd", `starts with '.'`},
		{"command substitution", "deploy accounting $(id)", `build "$(id)" contains '$', which is not allowed`},
		{"backticks", "deploy accounting `id`", "build \"`id`\" contains '`', which is not allowed"},
		{"backticks inside", "deploy accounting 1`id`", "contains '`', which is not allowed"},
		{"semicolon glued", "deploy accounting 1337;rm -rf /", `build "1337;rm" contains ';', which is not allowed`},
		{"semicolon separate", "deploy accounting 1337 ;rm -rf /", `unexpected word ";rm"`},
		{"semicolon after env", "deploy accounting 1337 to production; rm -rf /", `unknown env "production;" for accounting; did you mean "production"?`},
		{"pipe", "deploy accounting 1|sh", `contains '|'`},
		{"ampersand", "deploy accounting 1&&id", `contains '&'`},
		{"redirect", "deploy accounting 1>x", `contains '>'`},
		{"quoted space in build", `deploy accounting "1 2"`, `build "1 2" contains a space`},
		{"newline injection", "deploy accounting 1337\nrm -rf /", "command contains a line break (at byte 22)"},
		{"carriage return", "deploy accounting 1337\rrm -rf /", "line break"},
		{"newline in quotes", "deploy accounting 1 --force \"a\nb\"", "line break"},
		{"unicode line separator", "deploy accounting 1\u2028x", "line break"},
		{"NUL", "deploy accounting 1337\x00", "command contains the control character U+0000 (at byte 22)"},
		{"ESC sequence", "deploy accounting \x1b[31m1337", "control character U+001B"},
		{"DEL", "deploy accounting 13\x7f37", "control character U+007F"},
		{"C1 control", "deploy accounting 1\u009b", "control character U+009B"},
		{"vertical tab", "deploy accounting 1\v", "control character U+000B"},
		{"10 kB argument", "deploy accounting " + long, "command too long (10258 bytes; the limit is 1000)"},
		{"long build", "deploy accounting " + strings.Repeat("a", 900), `build "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…" is 900 characters long; the limit is 64`},
		{"long app", "deploy " + strings.Repeat("x", 900) + " 1", `unknown app "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"`},
		{"cyrillic a in build", "deploy accounting b\u0430d", `contains the non-ASCII character 'а' (U+0430), maybe a look-alike`},
		// A look-alike reads as the name it imitates: "did you mean
		// accounting?" after "accounting" told nothing.
		{"cyrillic a in app", "deploy \u0430ccounting 1", `unknown app "аccounting": it looks like the app accounting but is written with other characters ('а' U+0430); type it again`},
		{"full-width app", "status \uff44\uff45\uff4d\uff4f", `unknown app "ｄｅｍｏ": it looks like the app demo but is written with other characters ('ｄ' U+FF44, 'ｅ' U+FF45, 'ｍ' U+FF4D)`},
		{"joined app", "rollback acc\u200dounting", `unknown app "acc\u200dounting": it looks like the app accounting but is written with other characters ('\u200d' U+200D)`},
		{"cyrillic o in env", "deploy accounting 1 to pr\u043eduction", `unknown env "prоduction" for accounting: it looks like the env production but is written with other characters ('о' U+043E); type it again`},
		{"greek o in env of cancel", "cancel accounting staging \u03bf", `unexpected word`},
		{"cyrillic s in env of history", "history demo \u0455taging", `unknown env "ѕtaging" for demo: it looks like the env staging`},
		{"cyrillic o in command", "depl\u043ey accounting 1", `unknown command "deplоy": it looks like deploy but is written with other characters ('о' U+043E); type it again`},
		{"full-width command", "\uff53\uff54\uff41\uff54\uff55\uff53", `unknown command "ｓｔａｔｕｓ": it looks like status but is written with other characters`},
		{"fullwidth digits", "deploy accounting \uff11\uff13\uff13\uff17", `non-ASCII character '１' (U+FF11)`},
		{"fullwidth verb", "\uff44eploy accounting 1", `unknown command "ｄeploy"`},
		{"RTL override in build", "deploy accounting 1337\u202e", "invisible text-direction character U+202E"},
		{"RTL override in reason", "lock deploys \u202egnp.exe", "invisible text-direction character U+202E"},
		{"RTL isolate", "deploy accounting 1\u2067", "text-direction character U+2067"},
		{"zero width space", "deploy accounting 13\u200b37", "invisible formatting character U+200B"},
		{"byte order mark", "\ufeffdeploy accounting 1", "invisible formatting character U+FEFF"},
		{"invalid UTF-8", "deploy accounting \xff\xfe", "not valid UTF-8"},
		{"flag-looking build", "deploy accounting -rf", "deploy needs a build"},
		{"negative build", "deploy accounting -1", `build "-1" starts with '-'`},
		{"mention then injection", "<@U123> deploy accounting $(id)", `contains '$'`},
		{"history injection", "history accounting $(id)", `unknown env "$(id)" for accounting`},
		{"help traversal", "help ../../etc/passwd", `no help for "../../etc/passwd"`},
		{"shell verb", "$(id)", `unknown command "$(id)"`},
		{"grant command substitution user", "grant @$(id) admin", `user name "$(id)" contains '$', which is not allowed`},
		{"grant backticks user", "grant @`id` admin", "user name \"`id`\" contains '`'"},
		{"grant traversal user", "grant @../../etc/passwd admin", `user name "../../etc/passwd" starts with '.'`},
		{"grant slash in user", "grant @ana/../bob admin", `contains '/'`},
		{"grant semicolon in role", "grant @ana ad;min", `role "ad;min" contains ';', which is not allowed`},
		{"grant semicolon after role", "grant @ana admin; rm -rf /", `role "admin;" contains ';'`},
		{"grant semicolon in user", "grant @ana;id admin", `user name "ana;id" contains ';'`},
		{"grant pipe in role", "grant @ana admin|sh", `contains '|'`},
		{"grant command substitution role", "grant @ana $(id)", `role "$(id)" starts with '$'`},
		{"grant traversal app", "grant @ana admin ../../etc/passwd", `unknown app "../../etc/passwd"`},
		{"grant mention with NUL", "grant <@U02\x004BE7LH> admin", "control character U+0000"},
		{"grant mention with ESC", "grant <@U024BE7LH\x1b[0m> admin", "control character U+001B"},
		{"grant mention with newline", "grant <@U024BE7LH>\ngrant @bob admin", "line break"},
		{"grant mention with RTL override", "grant <@U024\u202eBE7LH> admin", "text-direction character U+202E"},
		{"grant mention with zero width space", "grant <@U024\u200bBE7LH> admin", "invisible formatting character U+200B"},
		{"grant user with zero width joiner", "grant @a\u200dna admin", "non-ASCII character '\\u200d' (U+200D)"},
		{"grant cyrillic user", "grant @\u0430na admin", `contains the non-ASCII character 'а' (U+0430), maybe a look-alike`},
		{"grant cyrillic role", "grant @ana \u0430dmin", `role "аdmin" contains the non-ASCII character 'а' (U+0430)`},
		{"grant fullwidth at sign", "grant \uff20ana admin", `"＠ana" is not a user`},
		{"grant mention of injection", "grant <@U1|$(id)> admin ; id", `unknown app ";"`},
		{"grant long user", "grant @" + long + " admin", "command too long"},
		{"grant long role", "grant @ana " + strings.Repeat("a", 900), "is 900 characters long; the limit is 32"},
		{"revoke command substitution", "revoke @ana $(reboot)", `role "$(reboot)" starts with '$'`},
		{"audit injection", "audit accounting;id", `unknown app "accounting;id"; known apps`},
		{"here injection", "here for 2h;id", `invalid duration "2h;id"`},
		{"confirm command substitution", "deploy confirm $(id)", `"$(id)" is not a deploy id`},
		{"confirm backticks", "deploy confirm `id`", "\"`id`\" is not a deploy id"},
		{"confirm traversal", "deploy confirm ../../etc/passwd", `"../../etc/passwd" is not a deploy id`},
		{"confirm traversal after id", "deploy confirm 20261123-124158-b25a0a/../../x", `"20261123-124158-b25a0a/../../x" is not a deploy id`},
		{"abort semicolon glued", "deploy abort 20261123-124158-b25a0a;id", `"20261123-124158-b25a0a;id" is not a deploy id`},
		{"abort semicolon then command", "deploy abort 20261123-124158-b25a0a; rm -rf /", `"20261123-124158-b25a0a;" is not a deploy id`},
		{"abort and and", "deploy abort 20261123-124158-b25a0a && id", `unexpected word "&&"`},
		{"confirm mention as id", "deploy confirm <@U1>", `"<@U1>" is not a deploy id`},
		{"confirm newline", "deploy confirm 20261123-124158-b25a0a\ndeploy abort 20261123-124158-b25a0a", "line break"},
		{"confirm NUL", "deploy confirm 20261123-124158-b25a0a\x00", "control character U+0000"},
		{"confirm ESC", "deploy confirm \x1b[31m20261123-124158-b25a0a", "control character U+001B"},
		{"confirm cyrillic a in id", "deploy confirm 20261123-124158-b25\u04300a", `contains the non-ASCII character 'а' (U+0430), maybe a look-alike`},
		{"confirm fullwidth digit in id", "deploy confirm \uff120261123-124158-b25a0a", `non-ASCII character '２' (U+FF12)`},
		{"confirm en dash in id", "deploy confirm 20261123\u2013124158-b25a0a", `non-ASCII character '–' (U+2013)`},
		{"confirm zero width space in id", "deploy confirm 20261123-124158\u200b-b25a0a", "invisible formatting character U+200B"},
		{"confirm RTL override", "deploy confirm \u202ea0a52b-851421-32116202", "text-direction character U+202E"},
		{"confirm cyrillic keyword", "deploy c\u043enfirm " + deployID, `"cоnfirm" is not an app; did you mean ` + suggest.Command("deploy confirm 20261123-124158-b25a0a") + `?`},
		{"confirm long id", "deploy confirm " + strings.Repeat("a", 900), `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…" is not a deploy id`},
		{"confirm 10 kB id", "deploy confirm " + long, "command too long"},
		{"train board command substitution build", "train board accounting $(id) on daily", `build "$(id)" contains '$', which is not allowed`},
		{"train board traversal build", "train board accounting ../../etc/passwd on daily", `build "../../etc/passwd" starts with '.'`},
		{"train board traversal app", "train board ../../etc/passwd 1", `unknown app "../../etc/passwd"`},
		{"train board traversal train", "train board accounting 1 on ../../etc/passwd", `unknown train "../../etc/passwd"; known trains: daily, weekly`},
		{"train board backticks train", "train board accounting 1 on `id`", "unknown train \"`id`\""},
		{"train board semicolon", "train board accounting 1337;rm -rf / on daily", `build "1337;rm" contains ';'`},
		{"train leave semicolon after train", "train leave accounting on daily; rm -rf /", `unknown train "daily;"; did you mean "daily"?`},
		{"train depart command substitution", "train depart $(id) now", `unknown train "$(id)"`},
		{"train depart semicolon after now", "train depart daily now; reboot", `unexpected word "now;"`},
		{"train depart and and", "train depart daily now && reboot", `unexpected word "&&"`},
		{"train depart newline", "train depart daily now\ntrain depart weekly now", "line break"},
		{"train depart cyrillic train", "train depart d\u0430ily now", `unknown train "dаily"; did you mean "daily"?`},
		{"train depart fullwidth now", "train depart daily \uff4eow", `unexpected word "ｎow"`},
		{"train cancel RTL override", "train cancel daily \u202egnp.exe", "invisible text-direction character U+202E"},
		{"train cancel ESC", "train cancel daily \x1b[31mfreeze", "control character U+001B"},
		{"train cancel NUL", "train cancel daily db\x00", "control character U+0000"},
		{"train long train", "train board accounting 1 on " + strings.Repeat("a", 900), `unknown train "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…"`},
		{"train 10 kB", "train cancel daily " + long, "command too long"},
		{"train action injection", "train `id`", "unknown train action \"`id`\""},
		{"stats command substitution env", "stats accounting $(id)", `unknown env "$(id)" for accounting`},
		{"stats semicolon window", "stats accounting 30d;id", `invalid window "30d;id"`},
		{"stats traversal app", "stats ../../etc/passwd", `unknown app "../../etc/passwd"`},
		{"stats long window", "stats accounting " + strings.Repeat("9", 900) + "d", `invalid window "9999999999999999999999999999999999999999…"`},
		{"stats fullwidth window", "stats accounting \uff13\uff10d", `unknown env "３０d" for accounting`},
		{"stats negative window", "stats accounting -7d", `unknown env "-7d" for accounting`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply {
				t.Fatalf("Parse(%q): got kind %v (%+v), want reply", trunc(tt.in), got.Kind, got.Cmd)
			}
			if !strings.Contains(got.Reply, tt.want) {
				t.Errorf("Parse(%q):\ngot reply %q\nwant it to contain %q", trunc(tt.in), got.Reply, tt.want)
			}
			if len(got.Reply) > 400 {
				t.Errorf("Parse(%q): got a reply of %d bytes, want at most 400", trunc(tt.in), len(got.Reply))
			}
			if strings.Contains(got.Reply, strings.Repeat("A", 50)) || strings.Contains(got.Reply, strings.Repeat("a", 50)) {
				t.Errorf("Parse(%q): got reply %q, want the long argument cut", trunc(tt.in), got.Reply)
			}
			// The marks of a command the bot suggests are its own, never
			// the input's (Parse takes them out of it).
			if i := strings.IndexFunc(suggest.Strip(got.Reply), func(r rune) bool { return r != '\n' && !isPrintable(r) }); i >= 0 {
				t.Errorf("Parse(%q): got reply %q with a raw non-printable character at %d, want it escaped", trunc(tt.in), suggest.Strip(got.Reply), i)
			}
		})
	}
}

func isPrintable(r rune) bool { return strconv.IsPrint(r) }

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// TestParseCatalogEdges covers catalogs that are empty, large, or name a
// default env the app does not have.
func TestParseCatalogEdges(t *testing.T) {
	many := testCatalog{envs: map[string][]string{}, defaults: map[string]string{}}
	for i := range 30 {
		many.envs["app"+strconv.Itoa(100+i)] = []string{"production"}
	}
	manyTrains := testCat()
	manyTrains.trains = nil
	for i := range 30 {
		manyTrains.trains = append(manyTrains.trains, "train"+strconv.Itoa(100+i))
	}
	noDefault := testCatalog{
		envs:     map[string][]string{"accounting": {"production", "staging"}, "demo": {"staging"}},
		defaults: map[string]string{"demo": "production"}, // not an env of demo
	}
	tests := []struct {
		name string
		cat  Catalog
		in   string
		want string
	}{
		{"nil catalog", nil, "deploy accounting 1", `unknown app "accounting"; no apps are configured`},
		{"nil catalog status", nil, "status accounting", "no apps are configured"},
		{"long list is cut", many, "deploy nope 1", "app118, app119 and 10 more"},
		{"no default env", noDefault, "deploy accounting 1", "accounting has no default env; name one: known envs: production, staging"},
		{"default env not an env", noDefault, "cancel demo", "demo has no default env"},
		{"rollback without default env", noDefault, "rollback accounting", "accounting has no default env"},
		{"nil catalog stats", nil, "stats accounting", `unknown app "accounting"; no apps are configured`},
		{"long train list is cut", manyTrains, "train depart nope now", "train118, train119 and 10 more"},
		{"which of many trains", manyTrains, "train depart now", "which train? there are 30; name one, e.g. " + suggest.Command("train depart train100 now") + " (trains: train100, train101,"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, tt.cat, Options{})
			if got.Kind != Reply || !strings.Contains(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want reply containing %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
	t.Run("nil catalog help", func(t *testing.T) {
		if got := Parse("help", nil, Options{}); got.Kind != Run {
			t.Errorf("Parse(help) with nil catalog: got %v, want run", got.Kind)
		}
	})
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		text string // formatDuration(want)
	}{
		{"30m", 30 * time.Minute, "30m"},
		{"2h", 2 * time.Hour, "2h"},
		{"1d", 24 * time.Hour, "1d"},
		{"1w", 7 * 24 * time.Hour, "1w"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"2H", 2 * time.Hour, "2h"},
		{"1w2d3h4m", (7*24+2*24+3)*time.Hour + 4*time.Minute, "1w2d3h4m"},
		{"90d", 90 * 24 * time.Hour, "12w6d"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in, lockOmitFor)
			if err != nil || got != tt.want {
				t.Fatalf("parseDuration(%q): got %v, %v, want %v", tt.in, got, err, tt.want)
			}
			if text := formatDuration(got); text != tt.text {
				t.Errorf("formatDuration(%v): got %q, want %q", got, text, tt.text)
			}
		})
	}
	for _, in := range []string{"", "m", "2", "2x", "1.5h", "-1h", "30s", "h2", "2h30", "0m", "0h0m", "91d", "1234567m", "9999999999999999999w"} {
		t.Run("bad "+in, func(t *testing.T) {
			if got, err := parseDuration(in, lockOmitFor); err == nil {
				t.Errorf("parseDuration(%q): got %v, want an error", in, got)
			}
		})
	}
}

func TestParseUser(t *testing.T) {
	tests := []struct {
		in   string
		user string
		isID bool
	}{
		{"@ana", "ana", false},
		{"@Ana", "Ana", false},
		{"@a", "a", false},
		{"@bob.smith-2_x", "bob.smith-2_x", false},
		{"@" + strings.Repeat("n", 64), strings.Repeat("n", 64), false},
		{"<@U024BE7LH>", "U024BE7LH", true},
		{"<@!80351110224678912>", "80351110224678912", true},
		{"<@80351110224678912>", "80351110224678912", true},
		{"<@U1|ana>", "U1", true},
		{"<@U1|>", "U1", true},
		{"<@" + strings.Repeat("9", 64) + ">", strings.Repeat("9", 64), true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			user, isID, err := parseUser(token{s: tt.in})
			if err != nil || user != tt.user || isID != tt.isID {
				t.Fatalf("parseUser(%q): got %q, %v, %v, want %q, %v", tt.in, user, isID, err, tt.user, tt.isID)
			}
			text := userText(user, isID)
			if u, id, err := parseUser(token{s: text}); err != nil || u != user || id != isID {
				t.Errorf("parseUser(userText(%q, %v) = %q): got %q, %v, %v, want them back", user, isID, text, u, id, err)
			}
		})
	}
	bad := []struct{ in, want string }{
		{"", `"" is not a user`},
		{"ana", "write the user with an @: @ana"},
		{"@", `"@" needs a user name`},
		{"@everyone", "notifies everyone"},
		{"everyone", `"everyone" is not a user`},
		{"@-ana", "starts with '-'"},
		{"@_ana", "starts with '_'"},
		{"@a..b", `contains ".."`},
		{"@a b", "contains a space"},
		{"@a\tb", `contains '\t'`},
		{"@ana@example.com", "contains '@'"},
		{"@" + strings.Repeat("n", 65), "is 65 characters long"},
		{"<@U1", "is not a complete mention"},
		{"<@!>", "is not a complete mention"},
		{"<@U1>>", "is not a complete mention"},
		{"<@U\u00e91>", "is not a complete mention"},
		{"<@&1>", "mentions a chat role"},
		{"<#C1>", "is not a user"},
		{"<!channel>", "is not a user"},
		{"<@" + strings.Repeat("9", 65) + ">", "is 65 characters long; the limit is 64"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.in, func(t *testing.T) {
			user, isID, err := parseUser(token{s: tt.in})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseUser(%q): got %q, %v, %v, want an error containing %q", tt.in, user, isID, err, tt.want)
			}
		})
	}
}

func TestCheckRole(t *testing.T) {
	for _, ok := range []string{"a", "admin", "deployer", "on-call", "release_manager2", "r" + strings.Repeat("0", 31)} {
		t.Run("ok "+ok, func(t *testing.T) {
			if err := checkRole(ok); err != nil {
				t.Errorf("checkRole(%q): got %v, want nil", ok, err)
			}
		})
	}
	tests := []struct{ in, want string }{
		{"", "the role is empty"},
		{"Admin", `role "Admin" has capitals; roles are lower case: admin`},
		{"ADMIN", "roles are lower case: admin"},
		{"1admin", "starts with '1'"},
		{"-admin", "starts with '-'"},
		{"_admin", "starts with '_'"},
		{"ad min", "contains a space"},
		{" admin", "contains a space"},
		{"ad;min", "contains ';'"},
		{"ad.min", "contains '.'"},
		{"ad/min", "contains '/'"},
		{"\u0430dmin", "non-ASCII character 'а' (U+0430)"},
		{"\u00c9t\u00e9", "non-ASCII character 'É'"},
		{"r" + strings.Repeat("0", 32), "is 33 characters long; the limit is 32"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := checkRole(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("checkRole(%q): got %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

// TestParseAppNamedFor covers a catalog with an app named "for", which
// grant must tell from "for DURATION".
func TestParseAppNamedFor(t *testing.T) {
	cat := testCatalog{
		envs:     map[string][]string{"for": {"production", "staging"}},
		defaults: map[string]string{"for": "production"},
	}
	tests := []struct {
		in   string
		want Command
	}{
		{"grant @ana deployer for", Command{Verb: VerbGrant, User: "ana", Role: "deployer", App: "for", Text: "grant @ana deployer for"}},
		{"grant @ana deployer for staging", Command{Verb: VerbGrant, User: "ana", Role: "deployer", App: "for", Env: "staging", Text: "grant @ana deployer for staging"}},
		{"grant @ana deployer for 2h", Command{Verb: VerbGrant, User: "ana", Role: "deployer", For: 2 * time.Hour, Text: "grant @ana deployer for 2h"}},
		{"grant @ana deployer for for 2h", Command{Verb: VerbGrant, User: "ana", Role: "deployer", App: "for", For: 2 * time.Hour, Text: "grant @ana deployer for for 2h"}},
		{"grant @ana deployer for staging for 1d",
			Command{Verb: VerbGrant, User: "ana", Role: "deployer", App: "for", Env: "staging", For: 24 * time.Hour, Text: "grant @ana deployer for staging for 1d"}},
		{"revoke @ana deployer for staging", Command{Verb: VerbRevoke, User: "ana", Role: "deployer", App: "for", Env: "staging", Text: "revoke @ana deployer for staging"}},
		{"here for 2h", Command{Verb: VerbHere, For: 2 * time.Hour, Text: "here for 2h"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, cat, Options{})
			if got.Kind != Run || got.Cmd != tt.want {
				t.Fatalf("Parse(%q): got %v %+v (reply %q), want run %+v", tt.in, got.Kind, got.Cmd, got.Reply, tt.want)
			}
			if again := Parse(got.Cmd.Text, cat, Options{}); again.Kind != Run || again.Cmd != got.Cmd {
				t.Errorf("Parse(%q) (the Text of %q): got %v %+v, want run %+v", got.Cmd.Text, tt.in, again.Kind, again.Cmd, got.Cmd)
			}
		})
	}
}

// namedCat has apps named like the keywords of the forms of deploy.
func namedCat() testCatalog {
	return testCatalog{
		envs:     map[string][]string{"abort": {"production", "staging"}, "confirm": {"production", "staging"}},
		defaults: map[string]string{"abort": "production", "confirm": "production"},
	}
}

// TestParseAppNamedConfirm covers a catalog with apps named confirm and
// abort: the keyword wins only when a deploy id follows it.
func TestParseAppNamedConfirm(t *testing.T) {
	cat := namedCat()
	tests := []struct {
		in   string
		want Command
	}{
		{"deploy confirm 1337", Command{Verb: VerbDeploy, App: "confirm", Env: "production", Build: "1337", Text: "deploy confirm 1337 to production"}},
		{"deploy abort 2.4.0 to staging --dry-run",
			Command{Verb: VerbDeploy, App: "abort", Env: "staging", Build: "2.4.0", DryRun: true, Text: "deploy abort 2.4.0 to staging --dry-run"}},
		{"deploy confirm confirm", Command{Verb: VerbDeploy, App: "confirm", Env: "production", Build: "confirm", Text: "deploy confirm confirm to production"}},
		{"deploy confirm --dry-run 1", Command{Verb: VerbDeploy, App: "confirm", Env: "production", Build: "1", DryRun: true, Text: "deploy confirm 1 to production --dry-run"}},
		{"deploy confirm " + deployID, Command{Verb: VerbConfirm, DeployID: deployID, Text: "deploy confirm " + deployID}},
		{"deploy abort " + deployID, Command{Verb: VerbAbort, DeployID: deployID, Text: "deploy abort " + deployID}},
		// The escape that help documents, and the Text that keeps it.
		{`deploy "confirm" ` + deployID,
			Command{Verb: VerbDeploy, App: "confirm", Env: "production", Build: deployID, Text: `deploy "confirm" ` + deployID + " to production"}},
		{`deploy 'abort' ` + deployID + " to staging",
			Command{Verb: VerbDeploy, App: "abort", Env: "staging", Build: deployID, Text: `deploy "abort" ` + deployID + " to staging"}},
		// The keyword counts only right after deploy.
		{"deploy --dry-run confirm " + deployID,
			Command{Verb: VerbDeploy, App: "confirm", Env: "production", Build: deployID, DryRun: true, Text: `deploy "confirm" ` + deployID + " to production --dry-run"}},
		{"rollback abort to " + deployID, Command{Verb: VerbRollback, App: "abort", Env: "production", Build: deployID, Text: "rollback abort production to " + deployID}},
		{"status confirm", Command{Verb: VerbStatus, App: "confirm", Text: "status confirm"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, cat, Options{})
			if got.Kind != Run || got.Cmd != tt.want {
				t.Fatalf("Parse(%q): got %v %+v (reply %q), want run %+v", tt.in, got.Kind, got.Cmd, got.Reply, tt.want)
			}
			if again := Parse(got.Cmd.Text, cat, Options{}); again.Kind != Run || again.Cmd != got.Cmd {
				t.Errorf("Parse(%q) (the Text of %q): got %v %+v, want run %+v", got.Cmd.Text, tt.in, again.Kind, again.Cmd, got.Cmd)
			}
		})
	}
	replies := []struct{ in, want string }{
		{"deploy confirm", "deploy needs a build after the app, e.g. deploy confirm 1337" + usageDeploy},
		{"deploy confirm " + deployID + " to production",
			`unexpected word "to"; to deploy build 20261123-124158-b25a0a of the app confirm, quote the app: deploy "confirm" 20261123-124158-b25a0a …` + usageConfirm},
		{"deploy abort " + deployID + " --dry-run", `unknown flag "--dry-run"; deploy abort takes no flags` + usageAbort},
		// Apps are case-sensitive: "Confirm" is no app here, so it is the keyword.
		{"deploy Confirm 1337", `"1337" is not a deploy id` + validDeployID + usageConfirm},
	}
	for _, tt := range replies {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, cat, Options{})
			if got.Kind != Reply || got.Reply != tt.want {
				t.Errorf("Parse(%q):\ngot %v %q\nwant reply %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}

// oneTrainCat is testCat with a single train, which actions may leave out.
func oneTrainCat() testCatalog {
	c := testCat()
	c.trains = []string{"daily"}
	return c
}

// noTrainsCat is testCat without trains.
func noTrainsCat() testCatalog {
	c := testCat()
	c.trains = nil
	return c
}

// keywordCat names apps, envs and trains like the keywords of train.
func keywordCat() testCatalog {
	return testCatalog{
		envs:     map[string][]string{"on": {"production", "to"}, "web": {"on", "production"}},
		defaults: map[string]string{"on": "production", "web": "production"},
		trains:   []string{"now", "on", "to"},
	}
}

// TestParseTrainCatalogs covers how train picks its train with one train,
// none, and trains named like its keywords.
func TestParseTrainCatalogs(t *testing.T) {
	tests := []struct {
		name string
		cat  Catalog
		in   string
		want Command
	}{
		{"only train: board", oneTrainCat(), "train board accounting 1337",
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "1337", Train: "daily", Text: "train board accounting 1337 on daily"}},
		{"only train: board to env", oneTrainCat(), "train board accounting 1337 to staging",
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "1337", Env: "staging", Train: "daily",
				Text: "train board accounting 1337 to staging on daily"}},
		{"only train: board named", oneTrainCat(), "train board accounting 1337 on daily",
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "accounting", Build: "1337", Train: "daily", Text: "train board accounting 1337 on daily"}},
		{"only train: leave", oneTrainCat(), "train leave demo",
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "demo", Train: "daily", Text: "train leave demo on daily"}},
		{"only train: cancel", oneTrainCat(), "train cancel db migration",
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "daily", Reason: "db migration", Text: `train cancel daily "db migration"`}},
		{"only train: cancel reason is the train's name", oneTrainCat(), `train cancel "daily"`,
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "daily", Reason: "daily", Text: `train cancel daily "daily"`}},
		{"only train: cancel a train no longer in the config", oneTrainCat(), `train cancel "nightly" removed from the config`,
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "nightly", TrainGone: true, Reason: "removed from the config",
				Text: `train cancel "nightly" "removed from the config"`}},
		{"no trains: cancel a train no longer in the config", noTrainsCat(), `train cancel "nightly" gone`,
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "nightly", TrainGone: true, Reason: "gone", Text: `train cancel "nightly" "gone"`}},
		{"only train: cancel reason quoted alone, as a form sends it", oneTrainCat(), `train cancel "nightly"`,
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "daily", Reason: "nightly", Text: `train cancel daily "nightly"`}},
		{"only train: depart", oneTrainCat(), "train depart now",
			Command{Verb: VerbTrain, TrainAction: TrainDepart, Train: "daily", Text: "train depart daily now"}},
		{"no trains: list", noTrainsCat(), "train", Command{Verb: VerbTrain, TrainAction: TrainList, Text: "train"}},
		{"nil catalog: list", nil, "train", Command{Verb: VerbTrain, TrainAction: TrainList, Text: "train"}},
		{"keywords: board", keywordCat(), "train board on 42 to to on on",
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "on", Build: "42", Env: "to", Train: "on", Text: "train board on 42 to to on on"}},
		{"keywords: board env on", keywordCat(), "train board web 42 on now to on",
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "web", Build: "42", Env: "on", Train: "now", Text: "train board web 42 to on on now"}},
		{"keywords: board build to", keywordCat(), `train board web "TO" on to`,
			Command{Verb: VerbTrain, TrainAction: TrainBoard, App: "web", Build: "TO", Train: "to", Text: `train board web "TO" on to`}},
		{"keywords: leave", keywordCat(), "train leave on on on",
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "on", Train: "on", Text: "train leave on on on"}},
		{"keywords: depart train now", keywordCat(), "train depart now now",
			Command{Verb: VerbTrain, TrainAction: TrainDepart, Train: "now", Text: "train depart now now"}},
		{"keywords: depart train on", keywordCat(), "train depart on now",
			Command{Verb: VerbTrain, TrainAction: TrainDepart, Train: "on", Text: "train depart on now"}},
		{"keywords: cancel train now", keywordCat(), `train cancel now "now"`,
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "now", Reason: "now", Text: `train cancel now "now"`}},
		{"keywords: cancel train to", keywordCat(), "train cancel to be sure",
			Command{Verb: VerbTrain, TrainAction: TrainCancel, Train: "to", Reason: "be sure", Text: `train cancel to "be sure"`}},
		{"no trains: leave a quoted train", noTrainsCat(), `train leave accounting on "nightly"`,
			Command{Verb: VerbTrain, TrainAction: TrainLeave, App: "accounting", Train: "nightly", TrainGone: true, Text: `train leave accounting on "nightly"`}},
		{"keywords: stats env on", keywordCat(), "stats web on 7d",
			Command{Verb: VerbStats, App: "web", Env: "on", For: 7 * day, Text: "stats web on 7d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, tt.cat, Options{})
			if got.Kind != Run || got.Cmd != tt.want {
				t.Fatalf("Parse(%q): got %v %+v (reply %q), want run %+v", tt.in, got.Kind, got.Cmd, got.Reply, tt.want)
			}
			if again := Parse(got.Cmd.Text, tt.cat, Options{}); again.Kind != Run || again.Cmd != got.Cmd {
				t.Errorf("Parse(%q) (the Text of %q): got %v %+v, want run %+v", got.Cmd.Text, tt.in, again.Kind, again.Cmd, got.Cmd)
			}
		})
	}
	replies := []struct {
		name string
		cat  Catalog
		in   string
		want string // the whole reply
	}{
		{"no trains: board", noTrainsCat(), "train board accounting 1337", "no trains are configured" + usageBoard},
		{"no trains: leave", noTrainsCat(), "train leave accounting", "no trains are configured" + usageLeave},
		{"no trains: leave an unknown train unquoted", noTrainsCat(), "train leave accounting on nightly", "no trains are configured" + usageLeave},
		{"no trains: cancel", noTrainsCat(), "train cancel db migration", "no trains are configured" + usageTCancel},
		{"no trains: depart", noTrainsCat(), "train depart now", "no trains are configured" + usageDepart},
		{"no trains: cancel a train no longer in the config without reason", noTrainsCat(), `train cancel "nightly"`,
			"no trains are configured" + usageTCancel},
		{"no trains: bad action", noTrainsCat(), "train bord", "no trains are configured" + usageTrain},
		{"no trains: bad arguments", noTrainsCat(), "train board $(id)", "no trains are configured" + usageBoard},
		{"nil catalog: board", nil, "train board accounting 1", "no trains are configured" + usageBoard},
		{"only train: depart without now", oneTrainCat(), "train depart",
			"train depart needs the word now, so that no train leaves by accident: " + suggest.Command("train depart daily now") + usageDepart},
		{"only train: unknown train", oneTrainCat(), "train leave demo on weekly", `unknown train "weekly"; known trains: daily` + usageLeave},
		{"only train: cancel without reason", oneTrainCat(), "train cancel",
			"a train cancel must say why: add a reason, e.g. train cancel daily db migration running" + usageTCancel},
		{"keywords: depart now with several trains", keywordCat(), "train depart now",
			"which train? there are 3; name one, e.g. " + suggest.Command("train depart now now") + " (trains: now, on, to)" + usageDepart},
		{"keywords: board build on", keywordCat(), "train board web on on now",
			"train board needs a build after the app, e.g. train board web 1337" + usageBoard},
	}
	for _, tt := range replies {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, tt.cat, Options{})
			if got.Kind != Reply || got.Reply != tt.want || got.Cmd != (Command{Verb: VerbTrain}) {
				t.Errorf("Parse(%q):\ngot %v %+v %q\nwant reply %q", tt.in, got.Kind, got.Cmd, got.Reply, tt.want)
			}
		})
	}
}

// TestParseButtonActions checks the Text that chat adapters put behind the
// Confirm and Abort buttons of a migrations prompt: it is exactly the
// canonical Text, and runs the same command whatever the catalog.
func TestParseButtonActions(t *testing.T) {
	for _, verb := range []Verb{VerbConfirm, VerbAbort} {
		action := "deploy " + string(verb) + " " + deployID
		want := Command{Verb: verb, DeployID: deployID, Text: action}
		for name, cat := range map[string]Catalog{"test": testCat(), "nil": nil, "apps named like the keywords": namedCat()} {
			t.Run(string(verb)+" "+name, func(t *testing.T) {
				if got := Parse(action, cat, Options{}); got.Kind != Run || got.Cmd != want || got.Reply != "" {
					t.Errorf("Parse(%q): got %v %+v (reply %q), want run %+v", action, got.Kind, got.Cmd, got.Reply, want)
				}
			})
		}
	}
}

func TestCheckDeployID(t *testing.T) {
	for _, ok := range []string{deployID, "00000000-000000-000000", "99999999-999999-ffffff", "20270101-000000-abcdef"} {
		t.Run("ok "+ok, func(t *testing.T) {
			if err := CheckDeployID(ok); err != nil {
				t.Errorf("CheckDeployID(%q): got %v, want nil", ok, err)
			}
			if !deployIDRE.MatchString(ok) {
				t.Errorf("deployIDRE: got no match for %q, want one", ok)
			}
		})
	}
	tests := []struct{ in, want string }{
		{"", "the deploy id is empty"},
		{"1337", `"1337" is not a deploy id`},
		{"20261123-124158-B25A0A", "has capitals; deploy ids are lower case: 20261123-124158-b25a0a"},
		{"20261123-124158-b25A0a", "deploy ids are lower case: 20261123-124158-b25a0a"},
		{"20261123-124158-b25a0", "is not a deploy id"},
		{"20261123-124158-b25a0a0", "is not a deploy id"},
		{"020261123-124158-b25a0a", "is not a deploy id"},
		{"20261123-124158-b25a0g", "is not a deploy id"},
		{"20261123-124158-G25A0A", "is not a deploy id"},
		{"2026112a-124158-b25a0a", "is not a deploy id"},
		{"20261123-12415a-b25a0a", "is not a deploy id"},
		{"20261123_124158_b25a0a", "is not a deploy id"},
		{"20261123-124158_b25a0a", "is not a deploy id"},
		{"20261123--24158-b25a0a", "is not a deploy id"},
		{"20261123-124158-b25a0a\n", "is not a deploy id"},
		{"-20261123-124158-b25a0", "is not a deploy id"},
		{"20261123-124158-b25a0a ", "contains a space"},
		{"20261123-124158-b25a0\u0430", "non-ASCII character 'а' (U+0430)"},
		{"\uff120261123-124158-b25a0a", "non-ASCII character '２' (U+FF12)"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := CheckDeployID(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckDeployID(%q): got %v, want an error containing %q", tt.in, err, tt.want)
			}
			if !strings.HasSuffix(err.Error(), validDeployID) {
				t.Errorf("CheckDeployID(%q): got %q, want it to end with what is valid", tt.in, err)
			}
			if deployIDRE.MatchString(tt.in) {
				t.Errorf("deployIDRE: got a match for %q, want none", tt.in)
			}
		})
	}
}

func TestCheckBuild(t *testing.T) {
	for _, ok := range []string{"1", "1337", "v2.4.0-rc1", "a_b", "A.b-C_9", strings.Repeat("9", 64)} {
		t.Run("ok "+ok, func(t *testing.T) {
			if err := CheckBuild(ok); err != nil {
				t.Errorf("CheckBuild(%q): got %v, want nil", ok, err)
			}
		})
	}
	tests := []struct{ in, want string }{
		{"", "the build is empty"},
		{".", `build "." is not a build name`},
		{"..", `build ".." is not a build name`},
		{"1..2", `contains ".."`},
		{".hidden", "starts with '.'"},
		{"-rf", "starts with '-'"},
		{"_x", "starts with '_'"},
		{"a/b", "contains '/'"},
		{"a b", "contains a space"},
		{"a\tb", "contains '\\t'"},
		{"a;b", "contains ';'"},
		{"a$b", "contains '$'"},
		{"\u0430", "non-ASCII character 'а' (U+0430)"},
		{strings.Repeat("9", 65), "is 65 characters long; the limit is 64"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := CheckBuild(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckBuild(%q): got %v, want an error containing %q", tt.in, err, tt.want)
			}
			if !strings.Contains(err.Error(), "a build is 1-64 ASCII letters") {
				t.Errorf("CheckBuild(%q): got %q, want it to say what is valid", tt.in, err)
			}
		})
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []token
	}{
		{`a "b c" d`, []token{{"a", false}, {"b c", true}, {"d", false}}},
		{`a 'b c'`, []token{{"a", false}, {"b c", true}}},
		{"a \u201cb c\u201d", []token{{"a", false}, {"b c", true}}},
		{"a \u2018b c\u2019", []token{{"a", false}, {"b c", true}}},
		{"a \u00abb c\u00bb", []token{{"a", false}, {"b c", true}}},
		{`don't stop`, []token{{"don't", false}, {"stop", false}}},
		{`'don't stop'`, []token{{"don't stop", true}}},
		{`"say "hi" now"`, []token{{`say "hi`, true}, {`now"`, false}}},
		{`--force="a b" x`, []token{{"--force=a b", false}, {"x", false}}},
		{`a=" b"`, []token{{`a="`, false}, {`b"`, false}}},
		{`""`, []token{{"", true}}},
		{"\"a\tb\"", []token{{"a b", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := tokenize(tt.in)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("tokenize(%q): got %+v, %v, want %+v", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []string{`"a`, `'a b`, `"a"b`, "\u201ca"} {
		t.Run("unterminated "+in, func(t *testing.T) {
			if got, err := tokenize(in); err == nil {
				t.Errorf("tokenize(%q): got %+v, want an error", in, got)
			}
		})
	}
}

func TestResultKindString(t *testing.T) {
	for k, want := range map[ResultKind]string{Ignore: "ignore", Run: "run", Reply: "reply", 7: "ResultKind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("ResultKind(%d).String(): got %q, want %q", int(k), got, want)
		}
	}
	if got := (Result{}).Kind; got != Ignore {
		t.Errorf("zero Result: got kind %v, want ignore", got)
	}
}

// TestImports keeps the parser free of I/O and the package free of chat
// platforms: the parser's files may import only the packages below, and no
// file of the package may import a platform SDK.
func TestImports(t *testing.T) {
	parserFiles := []string{"parse.go", "grammar.go", "help.go", "suggest.go"}
	// suggest only marks and unmarks text: it does no I/O either.
	allowed := []string{"errors", "fmt", "slices", "strconv", "strings", "time", "unicode", "unicode/utf8",
		"github.com/switchman-bot/switchman/internal/suggest"}
	forbidden := []string{"github.com/slack-go/", "github.com/bwmarrin/discordgo", "golang.org/x/crypto/ssh", "github.com/gorilla/websocket"}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := goparser.ParseFile(fset, name, src, goparser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if slices.Contains(parserFiles, name) && !slices.Contains(allowed, path) {
				t.Errorf("%s imports %q: got an import outside %v, want the parser to do no I/O", name, path, allowed)
			}
			for _, bad := range forbidden {
				if strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %q: got a platform import, want package commands platform-neutral", name, path)
				}
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	cat := testCat()
	b.ReportAllocs()
	for b.Loop() {
		if r := Parse("/deploy accounting 1337 to production", cat, Options{}); r.Kind != Run {
			b.Fatalf("got %v, want run", r.Kind)
		}
	}
}

// TestQuoteReadsBack: what Quote quotes, the parser reads back as the one
// word it was; what no quote can carry, Quote refuses.
func TestQuoteReadsBack(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"INC-42", true},
		{`say "hi" now`, true},
		{`a" b`, true},
		{`a" b' c`, true},
		// “ closes a “ as well as ” does: the third pair will not do.
		{"a\" b' c\u201c d", true},
		{"a\" b' c\u201d d\u201c e", true},
		{"ends in a quote\"", true},
		{"a\" b' c\u201d d \u00bb e", false},
		{"a\ttab", false},
		{"", true},
		// A no-break space separates words in Parse: a quote before one
		// closes there, so the quoting must not.
		{"a\"\u00a0to\u00a0\"production", true},
		{"a\u2019\u2003b", true},
	}
	for _, tt := range tests {
		q, ok := Quote(tt.s)
		if ok != tt.ok {
			t.Errorf("Quote(%q): ok %v, want %v", tt.s, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		// As Parse reads it: Unicode spaces become spaces first.
		toks, err := tokenize(plainSpaces("x " + q + " y"))
		if err != nil || len(toks) != 3 || toks[1].s != plainSpaces(tt.s) || !toks[1].quoted {
			t.Errorf("Quote(%q) = %s: read back as %+v (%v), want the one quoted word", tt.s, q, toks, err)
		}
	}
}

// TestLockRefusesAnotherAppsEnv: "lock deploys api prod …" where prod is
// an env of another app only is refused, not taken as a lock of all of
// api with the reason "prod …" (Discord's /lock offers every app's envs).
func TestLockRefusesAnotherAppsEnv(t *testing.T) {
	cat := testCatalog{envs: map[string][]string{"api": {"staging"}, "web": {"prod"}}}
	r := Parse(`lock deploys api prod "db work"`, cat, Options{})
	if r.Kind != Reply || !strings.Contains(r.Reply, `quote the reason: lock deploys api "…"`) {
		t.Errorf("got %v %+v %q, want a refusal naming api's envs", r.Kind, r.Cmd, r.Reply)
	}
	if r := Parse(`lock deploys api "prod db work"`, cat, Options{}); r.Kind != Run || r.Cmd.App != "api" || r.Cmd.Env != "" || r.Cmd.Reason != "prod db work" {
		t.Errorf("quoted: got %v %+v, want a lock of api with the reason", r.Kind, r.Cmd)
	}
}

func TestLeadingMention(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<@U123ABC> deploy demo 2", "<@U123ABC>"},
		{" \t<@!42>: status", "<@!42>"},
		{"<@U123ABC|ana> status", "<@U123ABC|ana>"},
		// Parse takes these for blanks, and strips the mention after them.
		{"\u00a0<@U123ABC> status", "<@U123ABC>"},
		{"\u3000<@U123ABC|ana> status", "<@U123ABC|ana>"},
		{"\ue000<@U123ABC>\ue001 status", "<@U123ABC>"},
		{"@switchman deploy demo 2", ""},
		{"deploy demo 2 <@U123ABC>", ""},
		{"<@> status", ""},
		{"<@U123ABC status", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := LeadingMention(tt.in); got != tt.want {
			t.Errorf("LeadingMention(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestLockShortWordStartsReason: a three-letter word that only begins an
// app's name is a word of the reason, not a typo of the app.
func TestLockShortWordStartsReason(t *testing.T) {
	cat := testCatalog{
		envs:     map[string][]string{"newsletter": {"production"}},
		defaults: map[string]string{"newsletter": "production"},
	}
	got := Parse("lock deploys new schema rollout", cat, Options{})
	want := Command{Verb: VerbLock, Reason: "new schema rollout", Text: `lock deploys "new schema rollout"`}
	if got.Kind != Run || got.Cmd != want {
		t.Errorf("got %v %+v (reply %q), want run %+v", got.Kind, got.Cmd, got.Reply, want)
	}
}

type replyCase struct{ name, in, want string }

// checkReplies parses each case's text, in a subtest of its name, and
// checks it is answered with a reply starting with want.
func checkReplies(t *testing.T, cases []replyCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
