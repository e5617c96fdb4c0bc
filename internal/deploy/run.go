package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// run is one deploy or rollback in progress.
type run struct {
	e     *Engine
	t     target
	lease Lease
	// log is the engine's log with the run's id, app and env on every
	// line: a bot logs for many apps' deploys at once.
	log *slog.Logger
	// starting logs what the run waits for until it starts (see
	// startWatch); nil for a dry run.
	starting *startWatch
	// leaseClock says when lease runs out by this process's clock.
	leaseClock *leaseClock
	// renewing is closed to stop renewing the lease (keepLease), which
	// starts as soon as it is taken: opening the hosts may outlast it.
	renewing chan struct{}
	sink     Sink

	// ctx is cancelled (with a cause) by Cancel or a lost lease; steps that
	// are safe to abort mid-way (delivery) run under it, the others check
	// stopErr between steps.
	ctx    context.Context
	cancel context.CancelCauseFunc

	hosts    []Host
	sessions map[string]Session
	states   map[string]hostState // as inspected before the deploy
	// out holds hosts that left the deploy (unreachable, failed); guarded
	// by mu once the deploy runs. allowed is max_failures for this env.
	out    map[string]bool
	outErr []hostErr
	// tookOver holds the dead runs of the app+env this run marked
	// interrupted as it began (see takeOver).
	tookOver []*Record
	// recent holds the newest records of the app+env, as the run read
	// them before it started (see lastSwitchingRun); nil until then.
	recent  []*Record
	allowed int
	// confirm receives the requester's answer when migrations wait for
	// it, until deadline; answered is the first answer, sent on confirm
	// (all three guarded by mu).
	confirm  chan confirmation
	deadline time.Time
	answered *confirmation
	// migrated lists the migrations this deploy ran (its migrate command
	// succeeded): switching hosts back leaves them applied.
	migrated []string
	// unstopped holds the hosts where the migrations of a dead run may
	// still run, that this run could not search (see stopLeftovers):
	// migrations it started would run beside those.
	unstopped []LostHost
	// retire is the release a rollback leaves: each host marks it bad in
	// the same script that switches it away. retired holds the hosts that
	// did (guarded by mu).
	retire  string
	retired map[string]bool
	// retireLeft, for a rollback of hosts that ran different releases,
	// has each host mark bad the release it leaves (retire is "" then).
	retireLeft bool
	// kept, for a rollback, reads the migrations it leaves applied beside
	// its switches (see keptRead); nil for a deploy.
	kept *keptRead
	// again holds the hosts a rollback restarts on the release they
	// already point at, where the last run left them (see stuckHosts).
	again map[string]bool
	// keepOut holds the hosts found out of rotation in the load balancer
	// (PoolMaint or PoolDrain) that the last run did not leave there:
	// someone took them out, and they stay out (see poolCheck).
	keepOut map[string]string
	// leftBehind holds the hosts found out of rotation that the last run
	// left out without switching them (see putBack).
	leftBehind map[string]bool
	// backFailed lists the hosts switched back one by one (within
	// max_failures) whose switch back failed (guarded by mu).
	backFailed []string
	// firstFailed lists the hosts that failed within max_failures on the
	// first release they ever had, which they stay on (guarded by mu).
	firstFailed []string
	// pruned holds the releases pruneAll removed, by host (guarded by
	// mu).
	pruned map[string][]string
	// settled is set once a deploy's hosts are switched for good: a
	// cancel is refused from then on (guarded by mu; see settle).
	settled bool

	mu  sync.Mutex // guards rec, seq, refused, unrecorded and behind
	rec *Record
	seq uint64 // of the latest snapshot of rec handed to saved
	// refused is why the store refused a write of rec: another replica
	// took the record over (see finish).
	refused error
	// unrecorded is why the final record could not be written: the store
	// still says the run is running (see finish).
	unrecorded error
	// behind is why the last write of rec was given up, while no later
	// one succeeded: the stored record misses the changes since.
	behind error
	saved  saver
	emitMu sync.Mutex
	// recorded is set once the run's first record is written (guarded
	// by mu): before, a change to rec is written with it, or never when
	// the run does not start.
	recorded bool
}

// markLost records that a script ended on host because its connection
// did (see HostResult.Lost).
func (r *run) markLost(host string) {
	r.mu.Lock()
	if !r.recorded {
		if h := r.rec.Host(host); h != nil {
			h.Lost = true
		}
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.setHost(host, func(hr *HostResult) { hr.Lost = true })
}

func (r *run) snapshot() *Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.Clone()
}

// stopErr returns why the deploy must stop, or nil.
func (r *run) stopErr() error {
	if r.ctx.Err() != nil {
		return context.Cause(r.ctx)
	}
	return nil
}

// fence checks the lease before a step that changes a host, so a process
// that lost its lease (a pause, a partition) touches no further host.
func (r *run) fence(ctx context.Context) error {
	// A stopped run reports why it stopped: checking the lease with its
	// cancelled context would fail and pass for a lost lease.
	if err := r.stopErr(); err != nil {
		return err
	}
	// The renewals stop the run once the lease ran out by this process's
	// clock, but a process waking from a pause may get here first, while
	// the store, asked, may still find the lease held.
	if err := r.leaseClock.runOut(); err != nil {
		r.cancel(err)
		return err
	}
	if err := r.lease.Check(ctx); err != nil {
		err = fmt.Errorf("%w: %w", ErrLeaseLost, err)
		r.cancel(err)
		return err
	}
	return r.stopErr()
}

func (r *run) emit(ev Event) { r.emitTo(ev, true) }

// emitTo sends ev to the run's sink and, with observers, to the engine's
// observers first.
func (r *run) emitTo(ev Event, observers bool) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	ev.Time = r.e.now()
	ev.DeployID = r.rec.ID
	ev.App, ev.Env, ev.Build = r.rec.App, r.rec.Env, r.rec.Build
	// Observers first: they only note the event (and must not block), so
	// whatever the sink's reader does next already finds their work begun.
	if observers {
		for _, o := range r.e.observers {
			o(ev)
		}
	}
	if r.sink != nil {
		r.sink(ev)
	}
}

func (r *run) note(format string, args ...any) {
	r.emit(Event{Kind: EventNote, Text: fmt.Sprintf(format, args...)})
}

// setHost updates one host's result and persists the record, so a crash
// leaves the latest known per-host state behind.
func (r *run) setHost(host string, f func(*HostResult)) {
	r.update(func(rec *Record) {
		if h := rec.Host(host); h != nil {
			f(h)
		}
	})
}

// setHosts is setHost for several hosts, in one write.
func (r *run) setHosts(hosts []Host, f func(*HostResult)) {
	if len(hosts) == 0 {
		return
	}
	r.update(func(rec *Record) {
		for _, h := range hosts {
			if hr := rec.Host(h.Name); hr != nil {
				f(hr)
			}
		}
	})
}

// update changes the record and returns once the store holds the change.
func (r *run) update(f func(*Record)) {
	r.mu.Lock()
	f(r.rec)
	snap := r.rec.Clone()
	r.seq++
	seq := r.seq
	r.mu.Unlock()
	r.saved.save(snap, seq, r.persist)
}

func (r *run) persist(snap *Record) {
	// The store call must not be cut short by a cancelled deploy: the
	// final record matters most then. A failed write is tried again: a
	// record left behind says the deploy is still running, and recovery
	// would call a finished deploy interrupted. The final one is tried
	// for longer, under the lease (still renewed), so that a store
	// failing over does not turn a finished deploy into an interrupted
	// one; past the lease's TTL recovery takes over, and fencing refuses
	// the late write.
	final := snap.Outcome.Done()
	budget := 10 * time.Second
	if final {
		budget = r.e.finalBudget
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), budget)
	defer cancel()
	for try := 0; ; try++ {
		err := r.e.store.PutRecord(ctx, snap)
		if err == nil {
			// Each write holds the whole record: this one carries the
			// changes of any given up before it.
			r.mu.Lock()
			r.behind = nil
			r.mu.Unlock()
			return
		}
		if errors.Is(err, ErrLeaseLost) {
			// Recovery has taken the record over: this run is no longer
			// the deploy's owner and stops touching hosts.
			r.log.Error("persist deploy record", "err", err)
			r.mu.Lock()
			if r.refused == nil {
				r.refused = err
			}
			r.mu.Unlock()
			r.cancel(fmt.Errorf("%w: %w", ErrLeaseLost, err))
			return
		}
		if errors.Is(err, ErrStoreReset) {
			// The store lost its data under the bot and refuses every
			// write until the bot restarts: trying again would only
			// hold the run's report back, for the whole budget of a
			// final write. The lease went with the data, so the run
			// stops here, as a renewal finding the reset stops it:
			// the write may be the one that records a host's switch
			// (see beginSwitch), the next renewal a third of the TTL
			// away.
			r.log.Error("persist deploy record", "err", err)
			r.gaveUp(err, final)
			if !final {
				r.cancel(fmt.Errorf("%w: %w", ErrLeaseLost, err))
			}
			return
		}
		if errors.Is(err, ErrStoreUnusable) || errors.Is(err, ErrStoreClosed) {
			// The embedded store's file was found damaged, or is no
			// longer mapped in memory: it refuses every call until
			// the file is restored or the bot restarted, so trying
			// again, for a final write for the whole budget, would
			// only hold the run's report back. A store closed by a
			// stop whose drain ran out before this run ended never
			// opens again either. A full store is tried on: space
			// freed within the budget ends it, without anyone's
			// restart.
			r.log.Error("persist deploy record", "err", err)
			r.gaveUp(err, final)
			return
		}
		if try == 2 && !final {
			r.log.Error("persist deploy record", "err", err)
			r.gaveUp(err, false)
			return
		}
		select {
		case <-time.After(min(time.Duration(try+1)*250*time.Millisecond, 5*time.Second)):
		case <-ctx.Done():
			r.log.Error("persist deploy record", "err", err)
			r.gaveUp(err, final)
			return
		}
	}
}

// gaveUp notes a write of the record that was given up after err: the
// final report says so (see finish), since the store keeps an older
// account of the run than the hosts' real state.
func (r *run) gaveUp(err error, final bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if final {
		r.unrecorded = err
		return
	}
	r.behind = err
}

// unrecordedText says that a run's outcome could not be written (after
// err), what the store shows of the run instead and what to do: told
// nothing, people would trust `status` and `history`, which show the run
// still running, and later interrupted, with the hosts as last recorded.
// behind says that earlier writes were given up too. A store that was
// reset shows nothing of the run: it lost every record, this one's too.
func unrecordedText(rec *Record, err error, behind bool) string {
	check := "; check what each host runs with " + suggest.Command("status "+rec.App) + " before the next deploy or rollback"
	if errors.Is(err, ErrStoreReset) {
		return fmt.Sprintf("this outcome could NOT be recorded (%v): the state store lost every record, this %s's included, so `status` and `history` will not show it", err, rec.Kind) + check
	}
	if errors.Is(err, ErrStoreUnusable) {
		// Until the file is restored or the bot restarted, status
		// and history are refused too; a restored backup may predate
		// the run.
		s := fmt.Sprintf("this outcome could NOT be recorded (%v): the state store refuses every read and write until it is repaired; then `status` and `history` show the %s as the store last recorded it (still running, then interrupted once a recovery finds it), or not at all from a backup older than it", err, rec.Kind)
		if behind {
			s += "; earlier writes of its record failed as well, so the host states it keeps may be older than the ones above"
		}
		return s + check
	}
	s := fmt.Sprintf("this outcome could NOT be recorded (%v): `status` and `history` show the %s as still running, then as interrupted once a recovery (the next start, or the next deploy or rollback of %s/%s) finds it", err, rec.Kind, rec.App, rec.Env)
	if behind {
		s += "; earlier writes of its record failed as well, so the record may be incomplete: the host states it keeps may be older than the ones above"
	}
	return s + check
}

// saver writes a run's record to the store, one write at a time, each of
// the newest snapshot: updates that arrive while a write is in flight
// share the next one. Hosts of a batch change state together, and one
// store write each, in turn, added a commit (two fsyncs for the embedded
// store) per host to every step; a snapshot written late also never
// replaces a newer one.
type saver struct {
	mu      sync.Mutex
	cond    sync.Cond
	next    *Record // the newest snapshot, not yet written
	nextSeq uint64
	written uint64 // seq of the newest snapshot written
	writing bool
}

// save returns once a snapshot at least as new as seq has been written
// with put.
func (s *saver) save(snap *Record, seq uint64, put func(*Record)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cond.L == nil {
		s.cond.L = &s.mu
	}
	if seq > s.nextSeq {
		s.next, s.nextSeq = snap, seq
	}
	for s.written < seq {
		if s.writing {
			s.cond.Wait()
			continue
		}
		rec, n := s.next, s.nextSeq
		s.writing = true
		s.mu.Unlock()
		put(rec)
		s.mu.Lock()
		s.writing, s.written = false, n
		s.cond.Broadcast()
	}
}

// step runs one host step, emitting its start and end.
func (r *run) step(ctx context.Context, h Host, step Step, cmd Command) ([]byte, error) {
	r.emit(Event{Kind: EventStep, Host: h.Name, Step: step})
	if cmd.Timeout == 0 {
		cmd.Timeout = r.t.env.StepTimeout.D()
	}
	out, err := r.sessions[h.Name].Run(ctx, cmd)
	ev := Event{Kind: EventStep, Host: h.Name, Step: step, Done: true}
	if err != nil {
		// A step cut short for a reason (the deploy cancelled, its
		// lease lost, the host dropped from a stream) says the reason,
		// not "context canceled".
		if cause := context.Cause(ctx); errors.Is(err, context.Canceled) && cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		err = stepFailed(step, h.Name, err)
		ev.Err = err.Error()
	}
	r.emit(ev)
	return out, err
}

// stepError is a host step that failed, said of its host ("migrate on
// web1: …"); err is why. Messages that name the step and the host
// themselves quote the cause alone (see stepCause), however many wraps
// lie between.
type stepError struct {
	step Step
	host string
	err  error
}

// stepFailed is step on host failed for err.
func stepFailed(step Step, host string, err error) error {
	return &stepError{step: step, host: host, err: err}
}

// Error names the host once, by the SSH transport's naming when the
// cause gave its address ("deliver on web1 (10.0.0.5:22): host
// unreachable: connection lost"): whoever reads it needs the address to
// reach the host.
func (e *stepError) Error() string {
	_, lead := e.saidOf()
	return fmt.Sprintf("%s on %s: %s", e.step, lead, e.cause())
}
func (e *stepError) Unwrap() error { return e.err }

// cause is why the step failed, without the SSH transport's naming of
// the host: the step names it already, and a host's record read
// "deliver on web1: ssh: web1: session closed".
func (e *stepError) cause() string { return hostCause(e.host, e.err) }

func (e *stepError) saidOf() (host, lead string) {
	lead, _ = hostLead(e.host, e.err)
	return e.host, lead
}

func (e *stepError) unnamed() string { return fmt.Sprintf("%s: %s", e.step, e.cause()) }

// hostSaid is an error said of its host, which it names itself: a failed
// step ("deliver on web1: …"), a host that failed the health gate ("web1
// stopped passing its health check after switching: …"). A text that
// names the host up front quotes it without that naming (see hostLead).
type hostSaid interface {
	error
	// saidOf is the host it names, and lead how it names it.
	saidOf() (host, lead string)
	// unnamed is what it says without naming the host.
	unnamed() string
}

// hostCause is what err, an error of host, says without naming the host
// as the SSH transport's errors do (see hostLead), for a text that names
// the host itself.
func hostCause(host string, err error) string {
	_, rest := hostLead(host, err)
	return rest.Error()
}

// eachHost runs f for every host, at most limit at a time, and returns
// once all have returned. The per-host steps after delivery (install,
// prune, marking a release bad, switching back) take a round trip or two
// each: run one host after the other, they add up to seconds on a fleet.
func eachHost(hosts []Host, limit int, f func(i int, h Host)) {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i, h := range hosts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i, h)
		})
	}
	wg.Wait()
}

// open connects to every host and reads its state. Hosts that cannot be
// reached are out of the deploy; more of them than max_failures allows
// (or all of them) refuse the deploy before anything changed.
func (r *run) open(ctx context.Context) error {
	r.sessions = map[string]Session{}
	r.states = map[string]hostState{}
	r.out = map[string]bool{}
	r.allowed = r.t.env.MaxFailures.Allowed(len(r.hosts))
	// Only a push delivery runs zstd with the flags its version allows;
	// only a deploy delivers, and so asks for free space.
	deploying := r.rec.Kind == KindDeploy
	inspect := inspectScript(r.t.app.Path, deploying && r.t.app.Delivery != "pull", deploying && r.t.env.MinFreeSpaceBytes() > 0)
	var mu sync.Mutex
	failed := map[string]error{}
	var wg sync.WaitGroup
	for _, h := range r.hosts {
		wg.Go(func() {
			s, err := r.t.tr.Open(ctx, h)
			if err != nil {
				mu.Lock()
				failed[h.Name] = err
				mu.Unlock()
				return
			}
			rs := runSession{Session: s, run: r.rec.Run}
			out, err := rs.Run(ctx, Command{Script: inspect, Timeout: r.t.env.StepTimeout.D()})
			// The inspection only reads: only a host lost after it is marked.
			rs.lost = func() { r.markLost(h.Name) }
			mu.Lock()
			defer mu.Unlock()
			r.sessions[h.Name] = rs
			if err != nil {
				failed[h.Name] = fmt.Errorf("inspect: %w", err)
				return
			}
			r.states[h.Name] = parseInspect(out)
		})
	}
	wg.Wait()
	if len(failed) == 0 {
		return nil
	}
	if err := tooManyUnusable(r.t, r.hosts, failed, r.allowed); err != nil {
		r.closeSessions()
		return err
	}
	for _, h := range r.hosts {
		if err, ok := failed[h.Name]; ok {
			r.out[h.Name] = true
			r.outErr = append(r.outErr, hostErr{h.Name, unusedState(err), err})
		}
	}
	return nil
}

// tooManyUnusable returns the refusal of a deploy of t to hosts, failed
// of which could not be used, when more failed than allowed (max_failures)
// or all of them; nil when it goes on without them. The dry run says the
// same.
func tooManyUnusable(t target, hosts []Host, failed map[string]error, allowed int) error {
	if len(failed) == 0 || (len(failed) <= allowed && len(failed) < len(hosts)) {
		return nil
	}
	var list []error
	them := "them"
	for _, h := range hosts {
		if err, ok := failed[h.Name]; ok {
			list = append(list, withHost(h.Name, err))
			if len(failed) == 1 {
				them = h.Name
			}
		}
	}
	if len(hosts) == 1 {
		// Its reason names it already.
		them = "it"
	}
	// How to go on: with the default max_failures of 0 one dead host
	// holds up a rollback of the whole fleet, and the refusal alone did
	// not say what lets it through.
	then := "bring " + them + " back"
	if reachOrUse(failed) == "use" {
		then = "put right what keeps " + them + " out"
	}
	if len(failed) < len(hosts) {
		without := "them"
		if len(failed) == 1 {
			without = "it"
		}
		then += fmt.Sprintf(", or set max_failures of %s to %d or more in the config to go on without %s", t.key(), len(failed), without)
	}
	if len(hosts) == 1 {
		// No max_failures lets a deploy go on without its only host:
		// "1 of 1 hosts (max_failures allows 0)" only made the refusal
		// longer.
		return errs.Wrap(errs.Unavailable, list[0], "cannot %s %s's only host; nothing was changed: %v; to go on, %s",
			reachOrUse(failed), t.key(), list[0], then)
	}
	return errs.Wrap(errs.Unavailable, errors.Join(list...), "cannot %s %d of %d hosts of %s (max_failures allows %d); nothing was changed: %v; to go on, %s",
		reachOrUse(failed), len(failed), len(hosts), t.key(), allowed, list[0], then)
}

// withHost is err said of host: prefixed with its name, unless err
// already names it as the SSH transport's errors do, with its address
// ("ssh: web1 (10.0.0.5:22): …") or alone ("ssh: web1: session
// closed"). Otherwise the reply said the name twice in a row ("web1:
// ssh: web1 (10.0.0.5:22): unknown host key …").
func withHost(host string, err error) error {
	if NamesHost(host, err.Error()) {
		return err
	}
	return fmt.Errorf("%s: %w", host, err)
}

// hostLead splits err, a host's error, into the name it gives the host,
// "web1 (10.0.0.5:22)" or "web1" as the SSH transport's errors do
// ("ssh: web1 (10.0.0.5:22): …", "ssh: web1: session closed"), and the
// rest of its text without that naming, which still wraps err: a text
// that puts the host up front names it by that lead, not once more
// inside. What err says before the naming stays ("could not look …:
// ssh: web1: session closed" leaves "could not look …: session
// closed"). An error that does not name the host leads with the host's
// bare name. An error said of host itself (see hostSaid), through
// whatever wraps it, leads with its naming and is said without it
// ("deliver: session closed").
func hostLead(host string, err error) (string, error) {
	msg := err.Error()
	if said, ok := errors.AsType[hostSaid](err); ok {
		if of, lead := said.saidOf(); of == host && strings.Contains(msg, said.Error()) {
			return lead, &restOf{msg: strings.Replace(msg, said.Error(), said.unnamed(), 1), err: err}
		}
	}
	if i, j := addressNaming(host, msg); i >= 0 {
		return msg[i:j], &restOf{msg: beforeName(msg[:i]) + msg[j+2:], err: err}
	}
	if i := strings.Index(" "+msg, " ssh: "+host+": "); i >= 0 {
		return host, &restOf{msg: msg[:i] + msg[i+len("ssh: ")+len(host)+2:], err: err}
	}
	return host, err
}

// beforeName is what an error says before it names a host, without the
// SSH transport's "ssh: " that goes with the naming.
func beforeName(s string) string {
	return strings.TrimSuffix(s, "ssh: ")
}

// restOf is an error shown as msg that wraps err.
type restOf struct {
	msg string
	err error
}

func (e *restOf) Error() string { return e.msg }
func (e *restOf) Unwrap() error { return e.err }

// NamesHost reports whether msg, a host's error, names host as the SSH
// transport's errors do: with its address, "web1 (10.0.0.5:22)", or alone
// after "ssh: ", "ssh: web1: session closed". A text that says msg of
// host then names host by msg alone.
func NamesHost(host, msg string) bool {
	return NamingEnd(host, msg) >= 0
}

// NamingEnd returns where, in msg, the first naming of host that
// NamesHost takes ends, past its ": ": after "web1 (10.0.0.5:22): " or
// "ssh: web1: "; -1 when msg names host in neither way.
func NamingEnd(host, msg string) int {
	if _, j := addressNaming(host, msg); j >= 0 {
		return j + len(": ")
	}
	if k := strings.Index(" "+msg, " ssh: "+host+": "); k >= 0 {
		return k + len("ssh: ") + len(host) + len(": ")
	}
	return -1
}

// addressNaming finds where msg first names host with its address as
// the SSH transport does, "web1 (10.0.0.5:22): ", the host's name as a
// whole word: msg[i:j] is "web1 (10.0.0.5:22)", followed by ": "; i is
// -1 when msg does not. Only an address, host:port as the transport
// dials it, makes the naming: what a script wrote of a process, "web1
// (pid 42): exited", does not name the host by an address.
func addressNaming(host, msg string) (i, j int) {
	lead := host + " ("
	for from := 0; from < len(msg); {
		k := strings.Index(msg[from:], lead)
		if k < 0 {
			break
		}
		k += from
		from = k + 1
		if k > 0 && msg[k-1] != ' ' {
			continue
		}
		inner := msg[k+len(lead):]
		end := strings.Index(inner, "): ")
		if end < 0 {
			break
		}
		if isAddress(inner[:end]) {
			return k, k + len(lead) + end + 1
		}
	}
	return -1, -1
}

// isAddress reports whether s is an address as the SSH transport names a
// host by: host:port, the port a number, the host without spaces or
// brackets but for an IPv6 address's ("[fd00::5]:22").
func isAddress(s string) bool {
	h, port, err := net.SplitHostPort(s)
	if err != nil || h == "" || port == "" || strings.ContainsAny(h, " \t()[]") {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// reachOrUse words why hosts are out: "reach" when none answered, "use"
// when some answered and were refused (a host key that does not match
// known_hosts, a failed login, a failed inspection).
func reachOrUse(failed map[string]error) string {
	for _, err := range failed {
		if !errors.Is(err, ErrUnreachable) {
			return "use"
		}
	}
	return "reach"
}

// unusedState is the state of a host that err kept from being used:
// unreachable when it did not answer, failed when it answered and was
// refused (its key, the login, its inspection). A refused host is not
// down: its state must not send anyone looking for a network problem.
func unusedState(err error) HostState {
	if errors.Is(err, ErrUnreachable) {
		return HostUnreachable
	}
	return HostFailed
}

// hostErr is a host that dropped out of the deploy before it started.
type hostErr struct {
	host  string
	state HostState
	err   error
}

// live returns the hosts still in the deploy, in config order.
func (r *run) live() []Host {
	var out []Host
	for _, h := range r.hosts {
		if !r.out[h.Name] {
			out = append(out, h)
		}
	}
	return out
}

// drop takes a failed host out of the deploy and reports whether the
// failures now exceed max_failures.
func (r *run) drop(h Host, state HostState, err error) bool {
	r.mu.Lock()
	r.out[h.Name] = true
	n := len(r.out)
	r.mu.Unlock()
	r.setHost(h.Name, func(hr *HostResult) {
		msg := err.Error()
		// A failure recorded already (see activate) comes again at the
		// start of err, followed by what became of the host.
		if !strings.HasPrefix(msg, hr.Error) {
			msg = joinErr(hr.Error, msg)
		}
		hr.State, hr.Error = state, msg
	})
	if n <= r.allowed {
		r.note("%s", leftOutNote(h.Name, n, len(r.hosts), r.allowed, err))
	}
	return n > r.allowed
}

// leftOutNote says host failed for err and is left out, with n failed
// among of hosts. It names the host once, up front, by err's naming of it
// (see hostLead): a failed step of the host is said by the step alone
// ("deliver: session closed"), or the note read "host0 failed and is
// left out (…): deliver on host0: session closed".
func leftOutNote(host string, n, of, allowed int, err error) string {
	lead, rest := hostLead(host, err)
	return fmt.Sprintf("%s failed and is left out (%d of %d hosts failed; max_failures allows %d): %v", lead, n, of, allowed, rest)
}

func (r *run) closeSessions() {
	for name, s := range r.sessions {
		if err := s.Close(); err != nil {
			r.log.Warn("close session", "host", name, "err", err)
		}
	}
}

// keepLease renews the lease until done is closed; losing it stops the run.
// So does a lease not renewed for its TTL (the store unreachable, or too
// slow to answer): it has run out by this process's clock, and another
// replica may hold it, so the run stops there, not at its next fencing
// check, which a long delivery reaches minutes later. A store found reset
// stops it at once too: the lease went with the store's data, another
// replica restarted on the empty store may take the app+env, and the
// store refuses every call until this bot restarts, so no renewal can
// bring it back.
func (r *run) keepLease(done <-chan struct{}) {
	renewEvery(r.lease, r.leaseClock, done, func(err error) bool {
		r.log.Error("renew deploy lease", "err", err)
		if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrStoreReset) {
			r.cancel(fmt.Errorf("%w: %w", ErrLeaseLost, err))
			return true
		}
		return false
	})
}

// leaseClock tells when a lease runs out by this process's clock: ttl after
// the start of its last renewal that succeeded, or of its acquisition. The
// store's expiry runs from later than that, by the store's clock or the
// renewing replica's, and another replica whose clock is ahead may take
// the lease while the store still tells this one it holds it: past that
// instant, the lease is lost whatever the store says. Safe for concurrent
// use.
type leaseClock struct {
	ttl time.Duration
	// now is the engine's clock (Options.Now), by which the lease's
	// renewals are timed and it runs out.
	now     func() time.Time
	mu      sync.Mutex
	renewed time.Time
}

// newLeaseClock returns the clock, by now, of a lease of ttl whose
// acquisition started at taken.
func newLeaseClock(now func() time.Time, taken time.Time, ttl time.Duration) *leaseClock {
	return &leaseClock{ttl: ttl, now: now, renewed: taken}
}

// untilExpiry returns how long until the lease runs out by this
// process's clock.
func (c *leaseClock) untilExpiry() time.Duration {
	return c.expiry().Sub(c.now())
}

// renew records a renewal that succeeded, which started at start.
func (c *leaseClock) renew(start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if start.After(c.renewed) {
		c.renewed = start
	}
}

// expiry returns when the lease runs out by this process's clock.
func (c *leaseClock) expiry() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.renewed.Add(c.ttl)
}

// runOut returns an error wrapping ErrLeaseLost once the lease has run
// out by this process's clock, or nil.
func (c *leaseClock) runOut() error {
	c.mu.Lock()
	renewed := c.renewed
	c.mu.Unlock()
	if c.now().Sub(renewed) < c.ttl {
		return nil
	}
	return fmt.Errorf("%w: not renewed since %s, so it ran out %s later by this process's clock",
		ErrLeaseLost, renewed.UTC().Format("15:04:05.000 UTC"), c.ttl)
}

// renewEvery renews lease every clock.ttl/3 until done is closed, and tells
// clock of each renewal that succeeded; failed tells of a renewal that
// failed and whether to stop renewing. Once the lease has run out by
// clock, failed is told so with an error wrapping ErrLeaseLost: the
// store's expiry runs from then at the latest, and a store that cannot be
// reached does not say the lease ran out.
func renewEvery(lease Lease, clock *leaseClock, done <-chan struct{}, failed func(error) (stop bool)) {
	ttl := clock.ttl
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	expiry := time.NewTimer(clock.untilExpiry())
	defer expiry.Stop()
	for {
		select {
		case <-done:
			return
		case <-expiry.C:
			err := clock.runOut()
			if err == nil {
				// A renewal that succeeded as the timer fired.
				expiry.Reset(clock.untilExpiry())
				continue
			}
			if failed(err) {
				return
			}
		case <-tick.C:
			start := clock.now()
			ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
			err := lease.Renew(ctx)
			cancel()
			if err == nil {
				clock.renew(start)
				expiry.Reset(clock.untilExpiry())
				continue
			}
			if failed(err) {
				return
			}
		}
	}
}

// finish writes the final record, emits it and frees the app+env.
func (r *run) finish(outcome Outcome, err error) {
	kept := r.kept.wait(r)
	r.update(func(rec *Record) {
		if kept != "" {
			rec.SchemaKept = kept
		}
		r.end(rec, outcome, err)
	})
	r.mu.Lock()
	refused := r.refused != nil
	if refused {
		// The store keeps another replica's account of this run (its
		// recovery's, reported interrupted) and refused this one's: the
		// run ends as one that lost its lease, not with an outcome
		// nobody recorded, which the chat would post next to the other
		// replica's and post-deploy work would act on. Not written: the
		// store would refuse it too.
		outcome, err = r.leaseLost(r.refused)
		r.end(r.rec, outcome, err)
	} else if r.unrecorded != nil {
		// The outcome stands (the hosts are as it says), but nothing
		// keeps it: the report is the only account of it, and says so.
		r.rec.Error = joinErr(r.rec.Error, unrecordedText(r.rec, r.unrecorded, r.behind != nil))
	}
	r.mu.Unlock()
	close(r.renewing) // renewed until the final record was written
	r.closeSessions()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rerr := r.lease.Release(ctx); rerr != nil {
		r.log.Warn("release deploy lease", "err", rerr)
	}
	r.e.mu.Lock()
	// Once the lease is released the next run of the app+env may start
	// and register itself under the same key: only this run is forgotten.
	if r.e.running[r.t.key()] == r {
		delete(r.e.running, r.t.key())
	}
	r.e.mu.Unlock()
	r.logEnd(outcome, err)
	if refused {
		// The recovery that recorded this run interrupted told its
		// observers, on whichever replica: told here too, a metric
		// would count the run twice.
		r.emitTo(Event{Kind: EventFinished, Record: r.snapshot(), TakenOver: true}, false)
		return
	}
	r.emit(Event{Kind: EventFinished, Record: r.snapshot()})
}

// logStart logs the start of the run once, at INFO, as soon as it is
// recorded: with logEnd, a run that started and never ended (hung on a
// host, say) shows in the log alone.
func (r *run) logStart() {
	rec := r.snapshot()
	r.log.Info(string(rec.Kind)+" started", "kind", rec.Kind, "build", rec.Build,
		"requester", rec.Requester, "hosts", len(rec.Hosts))
}

// logEnd logs the end of the run once, whatever its outcome: INFO when
// it did what was asked (succeeded, or unchanged: every host was on the
// release already), WARN otherwise, so that a bot logging at warn still
// shows every deploy or rollback that failed, was reverted, cancelled or
// interrupted, or reached only some hosts. Logged before the run's
// observers are told it finished. Its outcome is the one people are told
// (see Record.Said); where the record keeps another, which stats and
// metrics count, recorded_outcome names it, so that the two can be
// matched up. A cancelled deploy that left hosts on its build says where
// in left (see Record.LeftOnBuild).
func (r *run) logEnd(outcome Outcome, err error) {
	rec := r.snapshot()
	level := slog.LevelWarn
	if outcome == OutcomeSucceeded || outcome == OutcomeUnchanged {
		level = slog.LevelInfo
	}
	said := saidOutcome(rec.Kind, outcome, rec.Hosts)
	attrs := []any{"kind", rec.Kind, "build", rec.Build, "requester", rec.Requester,
		"outcome", said, "duration", rec.Duration(rec.Finished).Round(time.Millisecond)}
	if said != outcome {
		attrs = append(attrs, "recorded_outcome", outcome)
	}
	if left := leftOnBuild(rec.Kind, outcome, rec.Build, rec.Hosts); left != "" {
		attrs = append(attrs, "left", left)
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	} else if rec.Error != "" {
		attrs = append(attrs, "err", rec.Error)
	}
	r.log.Log(context.Background(), level, string(rec.Kind)+" ended", attrs...)
}

// end sets the final outcome of rec.
func (r *run) end(rec *Record, outcome Outcome, err error) {
	rec.Outcome = outcome
	rec.Finished = r.e.now()
	if err != nil {
		rec.Error = errs.Message(err)
		if errs.CodeOf(err) == errs.Internal {
			rec.Error = err.Error()
		}
	}
	if kept := rec.LockKept(); kept != "" {
		rec.Error += "; " + kept
	}
}

// vars are the template values of a host for health URLs and commands.
func (r *run) vars(h Host, build string) map[string]string {
	v := map[string]string{}
	for k, val := range h.Vars {
		v[k] = val
	}
	v["host"] = h.Name
	v["address"] = h.Address
	v["app"] = r.t.app.Name
	v["env"] = r.t.env.Name
	v["build"] = build
	return v
}

// cmdEnv is the environment of restart, migration and health commands.
func (r *run) cmdEnv(h Host, build, previous string) map[string]string {
	return map[string]string{
		"SWITCHMAN_APP":       r.t.app.Name,
		"SWITCHMAN_ENV":       r.t.env.Name,
		"SWITCHMAN_HOST":      h.Name,
		"SWITCHMAN_BUILD":     build,
		"SWITCHMAN_PREVIOUS":  previous,
		"SWITCHMAN_DEPLOY_ID": r.rec.ID,
		"SWITCHMAN_RELEASE":   r.t.app.Path + "/releases/" + build,
	}
}
