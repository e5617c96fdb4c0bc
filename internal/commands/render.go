package commands

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// planMessage renders the plan p of a dry run, whose deploy would be
// refused now for refusals (none: it would go ahead). A refused deploy is
// said to be once, then each further reason on a line; the hosts then
// show what they run now, and no steps are listed as if it ran.
func planMessage(p *deploy.Plan, refusals []string) chat.Message {
	m := chat.Message{Level: chat.Info, Title: fmt.Sprintf("Dry run: deploy %s %s to %s — nothing was changed", p.App, p.Build, p.Env)}
	if len(refusals) > 0 {
		m.Level = chat.Warning
		m.Lines = append(m.Lines, "⚠ a deploy now would be refused: "+refusals[0])
		for _, r := range refusals[1:] {
			m.Lines = append(m.Lines, "⚠ that cleared, it would still be refused: "+r)
		}
		for _, w := range p.Warnings {
			m.Lines = append(m.Lines, "⚠ "+w)
		}
		for _, h := range p.Hosts {
			m.Fields = append(m.Fields, chat.Field{Label: h.Host, Value: hostNow(h)})
		}
		return m
	}
	for i, s := range p.Steps {
		m.Lines = append(m.Lines, fmt.Sprintf("%d. %s", i+1, s))
	}
	for _, w := range p.Warnings {
		m.Lines = append(m.Lines, "⚠ "+w)
	}
	for _, h := range p.Hosts {
		m.Fields = append(m.Fields, chat.Field{Label: h.Host, Value: h.Change})
	}
	return m
}

// hostNow says what the host of h shows now, for a dry run whose deploy
// would be refused: no change is planned on it.
func hostNow(h deploy.HostPlan) string {
	switch {
	case strings.HasPrefix(h.Change, "unreachable: "):
		return h.Change
	case h.Current == "":
		return "now: no release current; nothing changes"
	}
	return fmt.Sprintf("now: runs %s; nothing changes", h.Current)
}

// EventMessage describes one progress event for people. Adapters that
// show progress line by line (the console) render it as is; adapters that
// edit one message per deploy fold events with a Progress view.
func EventMessage(ev deploy.Event) chat.Message {
	switch ev.Kind {
	case deploy.EventStarted:
		r := ev.Record
		verb := "Deploy"
		if r.Kind == deploy.KindRollback {
			verb = "Rollback"
		}
		return chat.Message{Level: chat.Info, Public: true, Title: fmt.Sprintf("%s %s started: %s %s → %s by %s (%d host%s)",
			verb, r.ID, r.App, r.Build, r.Env, r.Requester, len(r.Hosts), plural(len(r.Hosts)))}
	case deploy.EventStep:
		// A switch back runs the same steps as the switch (a drain, a
		// restart): said as they are, they would read as the deploy going
		// on.
		step := string(ev.Step)
		if ev.Back && ev.Step != deploy.StepRevert {
			step = "switch back: " + step
		}
		switch {
		case !ev.Done:
			return chat.Message{Level: chat.Info, Public: true, Lines: []string{fmt.Sprintf("%s: %s…", ev.Host, step)}}
		case ev.Err != "":
			// The step's error names the step and the host, which the
			// line says up front: it is said of the host by its lead,
			// with the address an SSH error gave, and by the cause alone.
			lead, rest := deploy.HostText(ev.Host, ev.Err)
			rest = strings.TrimPrefix(rest, string(ev.Step)+": ")
			return chat.Message{Level: chat.Failure, Public: true, Lines: []string{fmt.Sprintf("%s: %s failed: %s", lead, step, rest)}}
		default:
			return chat.Message{Level: chat.Info, Public: true, Lines: []string{fmt.Sprintf("%s: %s ✓", ev.Host, step)}}
		}
	case deploy.EventMigrations:
		if len(ev.Migrations) == 0 {
			return chat.Message{Level: chat.Info, Public: true, Lines: []string{"no pending migrations"}}
		}
		return chat.Message{Level: chat.Warning, Public: true, Lines: []string{"pending migrations: " + strings.Join(ev.Migrations, ", ")}}
	case deploy.EventConfirm:
		return ConfirmMessage(ev)
	case deploy.EventNote:
		return chat.Message{Level: chat.Info, Public: true, Lines: []string{ev.Text}}
	case deploy.EventFinished:
		return FinalMessage(ev.Record, ev.Time)
	}
	return chat.Message{Public: true, Lines: []string{string(ev.Kind)}}
}

// RunDuration is how long r took, or has taken so far at now, as every
// message gives it (the final message, history, status): to 10 ms, so
// that a run's report and its line in /history show the same figure.
func RunDuration(r *deploy.Record, now time.Time) string {
	return r.Duration(now).Round(10 * time.Millisecond).String()
}

// FinalMessage summarises a finished deploy or rollback.
func FinalMessage(r *deploy.Record, now time.Time) chat.Message {
	verb := "Deploy"
	if r.Kind == deploy.KindRollback {
		verb = "Rollback"
	}
	m := chat.Message{Public: true}
	d := RunDuration(r, now)
	switch r.Outcome {
	case deploy.OutcomeSucceeded:
		m.Level = chat.Success
		m.Title = fmt.Sprintf("%s %s: %s/%s now runs %s (%s)", verb, r.ID, r.App, r.Env, r.Build, d)
	case deploy.OutcomeCancelled:
		m.Level = chat.Warning
		m.Title = fmt.Sprintf("%s %s of %s %s to %s was cancelled after %s", verb, r.ID, r.App, r.Build, r.Env, d)
		if left := r.LeftOnBuild(); left != "" {
			m.Title += ", " + left
		}
	default:
		m.Level = chat.Failure
		m.Title = fmt.Sprintf("%s %s of %s %s to %s %s after %s", verb, r.ID, r.App, r.Build, r.Env, OutcomeText(r), d)
	}
	if r.Error != "" {
		m.Lines = append(m.Lines, r.Error)
	}
	if r.Forced != "" {
		m.Lines = append(m.Lines, "forced outside the deploy window: "+r.Forced)
	}
	if r.SchemaKept != "" {
		// Said again here: the report replaces the progress message
		// that said it as the rollback began.
		m.Lines = append(m.Lines, "⚠ "+r.SchemaKept)
	}
	for _, h := range r.Hosts {
		v := string(h.State)
		if rel := h.Release(); rel != "" {
			v += ", on " + rel
		}
		m.Fields = append(m.Fields, hostField(h.Host, v, h.Error))
	}
	if r.Kind == deploy.KindDeploy && (r.Outcome == deploy.OutcomeSucceeded || r.Outcome == deploy.OutcomePartial) {
		// A partial deploy is the live run too: it offers what its
		// alerts do, a rollback to the release it recorded, which every
		// host has, or says why there is none.
		if b, why, then, ok := RollbackOffer(r); ok {
			m.Buttons = append(m.Buttons, b)
		} else if r.Outcome == deploy.OutcomePartial {
			m.Lines = append(m.Lines, why+", so there is no Rollback button: "+then)
		}
	}
	if r.Outcome == deploy.OutcomeInterrupted {
		// A run that lost its lease and recorded itself interrupted
		// (no other replica took the app+env over) has no recovery to
		// report it: this is its report, and says what one would.
		if l := MigrationsLine(r); l != "" {
			m.Lines = append(m.Lines, l)
		}
		if b, ok := InterruptedButton(r); ok {
			m.Buttons = append(m.Buttons, b)
		}
	}
	return m
}

// hostField is host's line: what became of it (state), then why (err,
// its record's or failed step's error, "" for none). The line names the
// host once, up front, by err's naming of it, with the address an SSH
// error gave (see deploy.HostText): err said as it is named the host
// again ("h0: reverted — h0 stopped passing its health check …",
// "host0: failed — deliver on host0: …").
func hostField(host, state, err string) chat.Field {
	if err == "" {
		return chat.Field{Label: host, Value: state}
	}
	lead, rest := deploy.HostText(host, err)
	return chat.Field{Label: lead, Value: state + " — " + rest}
}

// OutcomeText is r's outcome as people read it (see deploy.Record.SaidText).
func OutcomeText(r *deploy.Record) string { return r.SaidText() }

// RollbackButton is the Rollback button of a message about r, the run
// that put the live release live (a deploy; for a Sentry alert, maybe a
// rollback). It runs `rollback APP ENV from BUILD`, which is refused
// once a later build runs: a click on an old message cannot roll back a
// later deploy. When r names the release a rollback from it goes back to
// (RollbackTo), the button says so ("Roll back to 1336") and asks for
// that release: `rollback APP ENV to 1336 from BUILD` goes there or is
// refused (marked bad since, gone from a host), never to another release
// than the one the button named. A record that names none (written
// before it did) gets the plain button. Its short form, `rollback
// DEPLOY-ID`, does the same in fewer bytes.
func RollbackButton(r *deploy.Record) chat.Button {
	b := chat.Button{Label: "Rollback", Action: fmt.Sprintf("rollback %s %s from %s", r.App, r.Env, r.Build), Style: "danger"}
	if to := r.RollbackTo; deploy.ValidBuild(to) {
		b.Label = namedLabel(b.Label, "Roll back to "+to)
		b.Action = fmt.Sprintf("rollback %s %s to %s from %s", r.App, r.Env, to, r.Build)
	}
	if r.ID != "" {
		b.Short = "rollback " + r.ID
	}
	return b
}

// RollbackOffer is the Rollback button of an alert about r, the live run
// (see RollbackButton), when a click would run a rollback: after a
// partial run, whose hosts run different releases, only one naming its
// release is accepted (an unnamed rollback is refused), so a partial run
// that names none gets no button. Otherwise ok is false, and why ("no
// earlier good release to roll back to") and then (what to do instead)
// say so to people.
func RollbackOffer(r *deploy.Record) (b chat.Button, why, then string, ok bool) {
	switch {
	case r.Outcome == deploy.OutcomePartial && !deploy.ValidBuild(r.RollbackTo):
		return chat.Button{}, fmt.Sprintf("no release on every host to roll back to after the partial %s %s", r.Kind, r.ID),
			fmt.Sprintf("%s shows what each host runs; name a release they all have: rollback %s %s to BUILD", suggest.Command("status "+r.App), r.App, r.Env), false
	case !r.CanRollBack():
		return chat.Button{}, "no earlier good release to roll back to", "deploy a fixed build", false
	}
	return RollbackButton(r), "", "", true
}

// namedLabel is named, a button label naming a build, unless a platform
// would cut it (see chat.MaxLabel): a build id cut short names another
// build, or none, so plain says less, rightly.
func namedLabel(plain, named string) string {
	if utf8.RuneCountInString(named) > chat.MaxLabel {
		return plain
	}
	return named
}

// InterruptedButton is the Rollback button of a run that stopped half-way
// (interrupted), which undoes that run only: back to what it left (a
// deploy) or on to its target (a rollback), and only while the hosts run
// nothing but those two, so that a click once a later deploy has run
// rolls nothing back. Its label names where it goes ("Roll back to
// 1336"). Its short form, `rollback RUN-ID`, does the same. ok is false
// without a build on each side: then rolling back is typed.
func InterruptedButton(r *deploy.Record) (b chat.Button, ok bool) {
	to, from, ok := undoInterrupted(r)
	if !ok {
		return chat.Button{}, false
	}
	return chat.Button{Label: namedLabel("Rollback", "Roll back to "+to), Action: fmt.Sprintf("rollback %s %s to %s from %s", r.App, r.Env, to, from), Short: "rollback " + r.ID, Style: "danger"}, true
}

// undoInterrupted returns the builds a rollback undoing the interrupted
// run r goes to and from.
func undoInterrupted(r *deploy.Record) (to, from string, ok bool) {
	to, from = r.Previous, r.Build
	if r.Kind == deploy.KindRollback {
		to, from = r.Build, r.Previous
	}
	return to, from, deploy.ValidBuild(to) && deploy.ValidBuild(from)
}

// MigrationsLine says how far r's migrations got, for whoever decides
// what to do after the deploy stopped half-way: neither switching back nor
// a rollback undoes a migration. It is "" when r says nothing of them (a
// rollback, an app without migrations). A deploy recorded by a version
// that did not record their state, but listed some pending, may have run
// them. It names the host that ran them where the record does.
func MigrationsLine(r *deploy.Record) string {
	names := ""
	if len(r.Migrations) > 0 {
		names = " (" + hostNames(r.Migrations, statusNames) + ")"
	}
	// The host that ran them, where the record says: where they may
	// still run, and whose log tells how far they got.
	on := ""
	if r.MigrationHost != "" {
		on = " on " + r.MigrationHost
	}
	switch r.MigrationState {
	case deploy.MigrationsNotStarted:
		if names == "" {
			return "migrations: not started (none listed yet)"
		}
		return "migrations: not started" + names + ": this deploy ran none"
	case deploy.MigrationsNone:
		return "migrations: none were pending"
	case deploy.MigrationsRunning:
		return "⚠ migrations: RUNNING" + on + " when it stopped" + names + ": some, all or none may be applied; check the database before rolling back"
	case deploy.MigrationsDone:
		return "migrations: done" + on + names + ": they stay applied, a rollback does not undo them"
	case deploy.MigrationsFailed:
		return "⚠ migrations: failed" + on + names + ": some may be applied; check the database before rolling back"
	case "":
		if r.Kind == deploy.KindDeploy && names != "" {
			return "⚠ migrations: pending" + names + ", and this deploy's record, by an earlier version of the bot, does not say whether it ran them: some, all or none may be applied; check the database before rolling back"
		}
	}
	return ""
}

// LostLines warn of the hosts among lost (see deploy.StillLost) of the
// run whose ID is id, or of every run when id is "", with the run named:
// what a step of the run began on each may still run there. Only the next
// deploy or rollback of the app+env stops it (see deploy.HostResult.Lost).
func LostLines(lost []deploy.LostHost, id string) []string {
	var out []string
	for _, l := range lost {
		if id != "" && l.Run.ID != id {
			continue
		}
		of := ""
		if id == "" {
			of = fmt.Sprintf(" of %s %s (%s)", l.Run.Kind, l.Run.Build, l.Run.ID)
		}
		out = append(out, fmt.Sprintf("⚠ %s: lost in the middle of a step%s; what it ran may still run there until the next deploy or rollback of %s/%s stops it", l.Host, of, l.Run.App, l.Run.Env))
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ConfirmMessage asks the requester to confirm a deploy's pending
// migrations, with Confirm and Abort buttons. The deadline is given in
// the zone of ev.Time, the bot's clock, as every other time it gives.
func ConfirmMessage(ev deploy.Event) chat.Message {
	return chat.Message{Level: chat.Warning, Public: true,
		Title: fmt.Sprintf("Deploy %s of %s %s to %s waits: %d pending migration(s)", ev.DeployID, ev.App, ev.Build, ev.Env, len(ev.Migrations)),
		Lines: []string{
			strings.Join(ev.Migrations, ", "),
			fmt.Sprintf("confirm with %s, or abort with %s, before %s (then it aborts safely)", suggest.Command("deploy confirm "+ev.DeployID),
				suggest.Command("deploy abort "+ev.DeployID), ev.Deadline.In(ev.Time.Location()).Format("15:04:05 MST")),
		},
		Buttons: []chat.Button{
			{Label: "Confirm", Action: "deploy confirm " + ev.DeployID, Style: "primary"},
			{Label: "Abort", Action: "deploy abort " + ev.DeployID, Style: "danger"},
		},
	}
}
