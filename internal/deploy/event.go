package deploy

import "time"

// Step names a phase of a deploy on a host.
type Step string

const (
	StepConnect  Step = "connect"
	StepInspect  Step = "inspect"
	StepDeliver  Step = "deliver" // unpack, link shared paths, rename into releases/<build>
	StepPending  Step = "pending-migrations"
	StepMigrate  Step = "migrate"
	StepActivate Step = "activate"
	StepRestart  Step = "restart"
	StepHealth   Step = "health"
	StepBackup   Step = "backup"
	StepDrain    Step = "drain" // out of the load balancer pool
	StepHook     Step = "hook"
	StepReady    Step = "ready" // back in the pool
	StepRevert   Step = "revert"
	StepPrune    Step = "prune"
)

// EventKind types a progress event.
type EventKind string

const (
	// EventStarted: the deploy record exists; Record is set.
	EventStarted EventKind = "started"
	// EventPlan: a dry run's plan; Plan is set. Nothing was changed.
	EventPlan EventKind = "plan"
	// EventStep: a host step started (Done false) or finished (Done true,
	// Err set on failure).
	EventStep EventKind = "step"
	// EventMigrations: pending migrations were listed; Migrations is set.
	EventMigrations EventKind = "migrations"
	// EventNote: something people should know that is not a step
	// (a skipped download, a revert starting); Text is set.
	EventNote EventKind = "note"
	// EventConfirm: the deploy waits for the requester to confirm its
	// pending migrations (Migrations) until Deadline.
	EventConfirm EventKind = "confirm"
	// EventFinished: the deploy ended; Record holds the final record.
	EventFinished EventKind = "finished"
)

// Event is one progress event. Adapters render events; they never format
// engine internals themselves.
type Event struct {
	Kind     EventKind
	Time     time.Time
	DeployID string
	App      string
	Env      string
	Build    string
	Host     string
	Step     Step
	Done     bool
	Err      string
	Text     string
	// Back, on EventStep, says the step is part of a host's switch back
	// (its drain, revert, restart, health check, hooks, ready): a drain
	// reads the same going back as going forward, and a host an earlier
	// run left switched is switched back without a switch of this run's
	// before it.
	Back bool
	// Migrations lists pending migrations (EventMigrations).
	Migrations []string
	// Record is a snapshot (EventStarted, EventFinished).
	Record *Record
	// Plan is set on EventPlan.
	Plan *Plan
	// Deadline is when an EventConfirm wait times out.
	Deadline time.Time
	// TakenOver, on EventFinished, says that the store refused this
	// run's final record and keeps another replica's account of its end
	// (a recovery's, or the next run's that took the app+env over),
	// whose writer audits and reports that end: the sink tells of the
	// run stopping here, and does not record its end a second time.
	TakenOver bool
}

// Sink receives progress events. It is called from the engine's goroutines,
// one event at a time per deploy, and must not block for long.
type Sink func(Event)

// Plan is what a deploy would do, as a dry run reports it.
type Plan struct {
	Kind  Kind
	App   string
	Env   string
	Build string
	Hosts []HostPlan
	// Steps lists the steps in order, as people read them.
	Steps []string
	// Warnings are what people should know before they deploy, which
	// does not stop the deploy (a release marked bad).
	Warnings []string
	// Refusals say why a deploy now would be refused (another run under
	// way, too many hosts it cannot use), in the order the deploy finds
	// them; none when it would go ahead. Hosts and Steps then say what
	// the hosts show now and what a deploy would do once it may, not
	// what a deploy now does.
	Refusals []string
}

// HostPlan is one host's part of a plan.
type HostPlan struct {
	Host    string
	Current string // release `current` points at now ("" if none or unreachable)
	// HasRelease: releases/<build> is already on the host, delivery skipped.
	HasRelease bool
	// Change says what would happen: "deliver and switch", "switch",
	// "nothing (already current)", "unreachable: …".
	Change string
}
