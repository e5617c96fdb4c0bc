package commands

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// Limits of the progress view, so that a message about a large fleet stays
// within what every platform shows in one message.
const (
	// progressHosts is how many hosts get a line of their own; the rest are
	// counted by state.
	progressHosts = 20
	// progressNotes is how many of the latest notes are shown.
	progressNotes = 3
	// barWidth is the number of cells of the progress bar.
	barWidth = 10
)

// Progress folds the events of one deploy or rollback into a single
// message, the one a chat platform posts once and then edits in place:
// who deploys what where, a progress bar, each host's state, pending
// migrations and the elapsed time; once the deploy finished, the final
// summary (FinalMessage) with its buttons.
//
// A Progress is not safe for concurrent use; an adapter guards it with the
// lock it holds while it applies an event or renders the message.
type Progress struct {
	id, app, env, build string
	kind                deploy.Kind
	requester           string
	previous            string
	started             time.Time

	hosts      []hostProgress
	migrations []string
	listed     bool // migrations were listed
	notes      []string
	confirm    *deploy.Event // the migrations prompt the deploy waits on
	final      *deploy.Record
}

// hostProgress is what the view knows of one host.
type hostProgress struct {
	name      string
	state     string // for people: "delivering", "checking health", …
	err       string
	active    bool // switched and healthy: counts towards the bar
	reverting bool // being switched back: its health check is the old release's
	back      bool // switched back and healthy: the steps after keep that
}

// Apply folds one event into the view. Events of other deploys, and events
// after the final one, are ignored.
func (p *Progress) Apply(ev deploy.Event) {
	if p.final != nil || (p.id != "" && ev.DeployID != "" && ev.DeployID != p.id) {
		return
	}
	if p.id == "" {
		p.id, p.app, p.env, p.build = ev.DeployID, ev.App, ev.Env, ev.Build
		p.kind = deploy.KindDeploy
		p.started = ev.Time
	}
	if ev.Kind != deploy.EventConfirm && ev.Kind != deploy.EventMigrations {
		p.confirm = nil // the deploy moved on
	}
	switch ev.Kind {
	case deploy.EventStarted:
		if r := ev.Record; r != nil {
			p.id, p.app, p.env, p.build, p.kind = r.ID, r.App, r.Env, r.Build, r.Kind
			p.requester, p.previous, p.started = r.Requester, r.Previous, r.Started
			for _, h := range r.Hosts {
				hp := p.host(h.Host)
				hp.state, hp.err, hp.active = string(h.State), h.Error, h.State == deploy.HostActive
			}
		}
	case deploy.EventStep:
		p.step(ev)
	case deploy.EventMigrations:
		p.listed, p.migrations = true, slices.Clone(ev.Migrations)
	case deploy.EventConfirm:
		p.listed, p.migrations = true, slices.Clone(ev.Migrations)
		c := ev
		p.confirm = &c
	case deploy.EventNote:
		if ev.Text != "" {
			p.notes = append(p.notes, ev.Text)
			if len(p.notes) > progressNotes {
				p.notes = p.notes[len(p.notes)-progressNotes:]
			}
		}
	case deploy.EventFinished:
		if ev.Record != nil {
			p.final = ev.Record.Clone()
		}
	}
}

// runningState names the state of a host while a step runs on it.
var runningState = map[deploy.Step]string{
	deploy.StepConnect:  "connecting",
	deploy.StepInspect:  "inspecting",
	deploy.StepDeliver:  "delivering",
	deploy.StepPending:  "listing migrations",
	deploy.StepMigrate:  "migrating",
	deploy.StepActivate: "switching",
	deploy.StepRestart:  "restarting",
	deploy.StepHealth:   "checking health",
	deploy.StepBackup:   "backing up",
	deploy.StepDrain:    "draining",
	deploy.StepHook:     "running hook",
	deploy.StepReady:    "returning to the pool",
	deploy.StepRevert:   "switching back",
	deploy.StepPrune:    "pruning",
}

// finishedState names the state of a host after a step succeeded on it.
var finishedState = map[deploy.Step]string{
	deploy.StepConnect:  "connected",
	deploy.StepInspect:  "pending",
	deploy.StepDeliver:  "delivered",
	deploy.StepPending:  "delivered",
	deploy.StepMigrate:  "delivered",
	deploy.StepActivate: "switched",
	deploy.StepRestart:  "restarted",
	deploy.StepHealth:   "active",
	deploy.StepBackup:   "backed up",
	deploy.StepDrain:    "drained",
	deploy.StepHook:     "hook done",
	deploy.StepReady:    "back in the pool",
	deploy.StepRevert:   "switched back",
	deploy.StepPrune:    "active",
}

func (p *Progress) step(ev deploy.Event) {
	if ev.Host == "" {
		return
	}
	h := p.host(ev.Host)
	// With a load balancer pool a switch back starts with the host's
	// drain, before its revert step. The engine says which drain that is:
	// a host an earlier run left switched goes back without a switch of
	// this run's before it.
	if !ev.Done && (ev.Step == deploy.StepRevert || ev.Step == deploy.StepDrain && ev.Back) {
		h.reverting, h.active, h.back = true, false, false
	}
	switch {
	case !ev.Done:
		h.state = orStep(runningState[ev.Step], ev.Step)
		if h.reverting && ev.Step != deploy.StepRevert {
			h.state = "switching back: " + h.state
		}
	case ev.Err != "":
		h.state, h.err, h.active, h.back = string(deploy.HostFailed), ev.Err, false, false
	case ev.Step == deploy.StepHealth && h.reverting, h.back:
		// Steps after the health check (ready, hooks) do not change that.
		h.state, h.back = string(deploy.HostReverted), true
	case h.active && ev.Step != deploy.StepHealth:
		h.state = "active" // steps after the health check (ready, hooks) do not change that
	default:
		h.state = orStep(finishedState[ev.Step], ev.Step)
		if h.reverting && ev.Step != deploy.StepRevert {
			h.state = "switching back: " + h.state
		}
		h.active = ev.Step == deploy.StepHealth
	}
}

func orStep(s string, step deploy.Step) string {
	if s == "" {
		return string(step)
	}
	return s
}

// host returns the view of host, adding it if it is new.
func (p *Progress) host(name string) *hostProgress {
	for i := range p.hosts {
		if p.hosts[i].name == name {
			return &p.hosts[i]
		}
	}
	p.hosts = append(p.hosts, hostProgress{name: name, state: string(deploy.HostPending)})
	return &p.hosts[len(p.hosts)-1]
}

// Done reports whether the final event arrived: Message then returns the
// final summary and will not change again.
func (p *Progress) Done() bool { return p.final != nil }

// ID is the deploy's id ("" before the first event).
func (p *Progress) ID() string { return p.id }

// Message renders the view at now (now only matters for the elapsed time
// of a running deploy). The message is Public: it is meant for the channel.
func (p *Progress) Message(now time.Time) chat.Message {
	if p.final != nil {
		return p.finalMessage()
	}
	m := chat.Message{Level: chat.Info, Public: true, Title: p.title()}
	active, failed := 0, 0
	for _, h := range p.hosts {
		if h.active {
			active++
		}
		if h.state == string(deploy.HostFailed) || h.reverting {
			failed++
		}
	}
	if failed > 0 {
		m.Level = chat.Warning
	}
	line := fmt.Sprintf("%s %d/%d hosts active", bar(active, len(p.hosts)), active, len(p.hosts))
	if !p.started.IsZero() {
		line += " · " + elapsed(now.Sub(p.started)) + " elapsed"
	}
	m.Lines = append(m.Lines, line)
	if p.listed {
		m.Lines = append(m.Lines, migrationsLine(p.migrations))
	}
	m.Lines = append(m.Lines, p.notes...)
	if c := p.confirm; c != nil {
		m.Level = chat.Warning
		line := "⏸ " + c.Text
		if !c.Deadline.IsZero() {
			// In the zone of every other time the bot gives, that of now.
			line += " (until " + c.Deadline.In(now.Location()).Format("15:04:05 MST") + ")"
		}
		m.Lines = append(m.Lines, line)
		m.Buttons = append(m.Buttons,
			chat.Button{Label: "Confirm migrations", Action: "deploy confirm " + p.id, Style: "primary"},
			chat.Button{Label: "Abort deploy", Action: "deploy abort " + p.id, Style: "danger"})
	}
	hosts := p.hosts
	if len(hosts) > progressHosts {
		// The hosts that failed or go back are the ones to read about:
		// they come first, so that they are among those shown.
		hosts = slices.Clone(hosts)
		slices.SortStableFunc(hosts, func(a, b hostProgress) int { return rank(a.troubled(), b.troubled()) })
	}
	for i, h := range hosts {
		if i == progressHosts {
			m.Lines = append(m.Lines, moreHosts(hosts[i:]))
			break
		}
		m.Fields = append(m.Fields, hostField(h.name, h.state, h.err))
	}
	return m
}

func (p *Progress) title() string {
	if p.kind == deploy.KindRollback {
		t := fmt.Sprintf("Rolling back %s/%s", p.app, p.env)
		if p.previous != "" {
			t += " from " + p.previous
		}
		t += " to " + orNone(p.build)
		return fmt.Sprintf("%s — requested by %s (rollback %s)", t, orNone(p.requester), p.id)
	}
	return fmt.Sprintf("Deploying %s %s to %s — requested by %s (deploy %s)", p.app, p.build, p.env, orNone(p.requester), p.id)
}

// finalMessage is FinalMessage plus who asked, and the migrations.
func (p *Progress) finalMessage() chat.Message {
	r := p.final
	m := FinalMessage(r, r.Finished)
	extra := []string{"requested by " + orNone(r.Requester)}
	if len(r.Migrations) > 0 && (r.Outcome != deploy.OutcomeInterrupted || MigrationsLine(r) == "") {
		// An interrupted run's names how far they got (FinalMessage).
		extra = append(extra, "migrations: "+hostNames(r.Migrations, progressMigrations))
	}
	m.Lines = append(extra, m.Lines...)
	if len(m.Fields) > progressHosts {
		// As while it runs, the hosts that did not end well come first.
		troubled := func(h deploy.HostResult) bool {
			return h.Error != "" || (h.State != deploy.HostActive && h.State != deploy.HostUnchanged)
		}
		order := make([]int, len(r.Hosts))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return rank(troubled(r.Hosts[a]), troubled(r.Hosts[b])) })
		fields := make([]chat.Field, len(order))
		for i, j := range order {
			fields[i] = m.Fields[j]
		}
		m.Fields = fields
		var rest []hostProgress
		for _, f := range m.Fields[progressHosts:] {
			state, _, _ := strings.Cut(f.Value, ",")
			state, _, _ = strings.Cut(state, " — ")
			rest = append(rest, hostProgress{state: state})
		}
		m.Fields = m.Fields[:progressHosts]
		m.Lines = append(m.Lines, moreHosts(rest))
	}
	return m
}

// troubled reports whether h failed or is being switched back.
func (h hostProgress) troubled() bool {
	return h.err != "" || h.reverting || h.state == string(deploy.HostFailed)
}

// rank orders what is troubled before what is not.
func rank(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

func migrationsLine(ms []string) string {
	if len(ms) == 0 {
		return "no pending migrations"
	}
	return "pending migrations: " + hostNames(ms, progressMigrations)
}

// progressMigrations is how many migrations the progress message names;
// the others are counted. A message is cut at the chat's limit (Discord
// shows 4,096 characters of it, a Slack section 3,000): a release with
// 150 pending migrations had its list push the confirmation prompt, and
// its deadline, out of the message. The console lists them all.
const progressMigrations = 10

// moreHosts counts hosts by state: "… and 30 more hosts: 12 active, 18 pending".
func moreHosts(hs []hostProgress) string {
	count := map[string]int{}
	var order []string
	for _, h := range hs {
		if count[h.state] == 0 {
			order = append(order, h.state)
		}
		count[h.state]++
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("%d %s", count[s], s)
	}
	return fmt.Sprintf("… and %d more host%s: %s", len(hs), plural(len(hs)), strings.Join(parts, ", "))
}

// bar draws done out of total as barWidth cells.
func bar(done, total int) string {
	filled := 0
	if total > 0 {
		filled = min(done, total) * barWidth / total
	}
	return strings.Repeat("▓", filled) + strings.Repeat("░", barWidth-filled)
}

// elapsed renders a running time for people: "4s", "1m05s", "1h02m".
func elapsed(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}
