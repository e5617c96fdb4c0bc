package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/switchman-bot/switchman/internal/artifact"
	"github.com/switchman-bot/switchman/internal/errs"
)

// Deploy checks the request, takes the app+env lease, connects to every host
// and starts the deploy in the background. It returns the new record, or an
// error with a code and a message for people when nothing was started
// (errs.NoChange when every host already runs the build). Progress and the
// final record go to sink.
func (e *Engine) Deploy(ctx context.Context, req Request, sink Sink) (*Record, error) {
	if !ValidBuild(req.Build) {
		return nil, errs.New(errs.Invalid, "invalid build %q", req.Build)
	}
	t, err := e.resolve(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	src := t.source()
	info, err := src.Stat(ctx, t.app.Name, req.Build)
	if err != nil {
		if errors.Is(err, artifact.ErrNotFound) {
			return nil, errs.Wrap(errs.NotFound, err, "build %s of %s not found at %s; nothing was changed", req.Build, t.app.Name, src.Display(t.app.Name, req.Build))
		}
		return nil, errs.Wrap(errs.Unavailable, err, "cannot check build %s of %s; nothing was changed", req.Build, t.app.Name)
	}

	r, err := e.begin(ctx, t, KindDeploy, req, sink)
	if err != nil {
		return nil, err
	}
	need, current := 0, ""
	for _, h := range r.hosts {
		st := r.states[h.Name]
		if current == "" {
			current = st.Current
		}
		if st.Current != req.Build {
			need++
		}
	}
	if need == 0 {
		r.abandon()
		return nil, errs.New(errs.NoChange, "%s already runs build %s on every host; nothing to do", t.key(), req.Build)
	}
	r.rec.Previous = current
	return r.start(func() (Outcome, error) { return r.deploy(info) }), nil
}

// begin takes the lease, opens the hosts and builds the run and its record;
// nothing is persisted or changed yet.
func (e *Engine) begin(ctx context.Context, t target, kind Kind, req Request, sink Sink) (*run, error) {
	id := newID(e.now())
	lease, err := e.acquire(ctx, t, id)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	r := &run{e: e, t: t, lease: lease, sink: sink, ctx: rctx, cancel: cancel, hosts: t.hosts()}
	r.rec = &Record{
		ID: id, Kind: kind, App: t.app.Name, Env: t.env.Name, Build: req.Build,
		Requester: req.Requester, Platform: req.Platform, Channel: req.Channel,
		Forced: req.Forced, Started: e.now(), Outcome: OutcomeRunning,
		Owner: e.owner, Fence: lease.Token(),
	}
	for _, h := range r.hosts {
		r.rec.Hosts = append(r.rec.Hosts, HostResult{Host: h.Name, State: HostPending})
	}
	if err := r.open(ctx); err != nil {
		r.abandon()
		return nil, err
	}
	for _, h := range r.hosts {
		st := r.states[h.Name]
		hr := r.rec.Host(h.Name)
		hr.Current, hr.Previous = st.Current, st.Current
	}
	return r, nil
}

// abandon gives up a run that never started: nothing was recorded.
func (r *run) abandon() {
	r.closeSessions()
	r.cancel(errCancelled)
	ctx, cancel := context.WithTimeout(context.Background(), defaultStoreTimeout)
	defer cancel()
	if err := r.lease.Release(ctx); err != nil {
		r.e.log.Warn("release deploy lease", "key", r.t.key(), "err", err)
	}
}

// start records the run, registers it and runs body in the background.
func (r *run) start(body func() (Outcome, error)) *Record {
	r.persist(r.rec.Clone())
	r.e.mu.Lock()
	r.e.running[r.t.key()] = r
	r.e.mu.Unlock()
	r.emit(Event{Kind: EventStarted, Record: r.snapshot()})
	r.e.wg.Add(1)
	go func() {
		defer r.e.wg.Done()
		done := make(chan struct{})
		go r.keepLease(done)
		outcome, err := body()
		close(done)
		if err != nil {
			r.e.log.Info("deploy ended", "deploy", r.rec.ID, "app", r.t.app.Name, "env", r.t.env.Name, "outcome", outcome, "err", err)
		}
		r.finish(outcome, err)
	}()
	return r.snapshot()
}

// deploy is the body of a deploy: deliver, migrate, activate, prune.
func (r *run) deploy(info artifact.Info) (Outcome, error) {
	build := r.rec.Build
	var deliver []Host
	for _, h := range r.hosts {
		st := r.states[h.Name]
		switch {
		case st.Current == build:
			r.setHost(h.Name, func(hr *HostResult) { hr.State = HostUnchanged })
		case st.has(build):
			r.note("%s already has release %s; skipping the download", h.Name, build)
			r.setHost(h.Name, func(hr *HostResult) { hr.State = HostDelivered })
		default:
			deliver = append(deliver, h)
		}
	}
	if err := r.deliverAll(info, deliver); err != nil {
		return r.failedBeforeSwitch(err)
	}
	if err := r.migrate(); err != nil {
		return r.failedBeforeSwitch(err)
	}
	if err := r.activateAll(); err != nil {
		return r.revertAll(err)
	}
	r.pruneAll()
	return OutcomeSucceeded, nil
}

// failedBeforeSwitch ends a deploy in which no host switched.
func (r *run) failedBeforeSwitch(err error) (Outcome, error) {
	r.mu.Lock()
	for i := range r.rec.Hosts {
		if h := &r.rec.Hosts[i]; h.State != HostFailed && h.State != HostUnreachable {
			h.State = HostUnchanged
		}
	}
	r.mu.Unlock()
	if errors.Is(err, errCancelled) {
		return OutcomeCancelled, err
	}
	return OutcomeFailed, err
}

// deliverAll streams the artifact to hosts, Parallel at a time. Each wave
// reads the source once and fans it out to its hosts while the bot checks
// the checksum and every tar entry; a release only appears under its final
// name once the whole stream was verified.
func (r *run) deliverAll(info artifact.Info, hosts []Host) error {
	par := r.t.env.Parallel
	for start := 0; start < len(hosts); start += par {
		if err := r.stopErr(); err != nil {
			return err
		}
		wave := hosts[start:min(start+par, len(hosts))]
		if err := r.deliverWave(info, wave); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) deliverWave(info artifact.Info, wave []Host) error {
	ctx := r.ctx
	build := r.rec.Build
	src, err := r.t.source().Open(ctx, r.t.app.Name, build)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "cannot read build %s of %s", build, r.t.app.Name)
	}
	defer src.Close()
	br := bufio.NewReaderSize(src, 256<<10)
	head, _ := br.Peek(6) // a short artifact fails Detect below
	comp, err := artifact.Detect(head)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "build %s of %s is not a gzip or zstd tarball; nothing was changed", build, r.t.app.Name)
	}

	tmp := "releases/.tmp-" + build + "-" + nonce()
	fan := newFanout()
	var wg sync.WaitGroup
	hostErr := make([]error, len(wave))
	for i, h := range wave {
		pr := fan.add()
		r.setHost(h.Name, func(hr *HostResult) { hr.State = HostDelivering })
		wg.Go(func() {
			_, err := r.step(ctx, h, StepDeliver, Command{Script: unpackScript(r.t.app.Path, tmp, string(comp)), Stdin: pr})
			// Unblock the fan-out if the host stopped reading early.
			pr.CloseWithError(errHostGone)
			hostErr[i] = err
		})
	}
	insp := artifact.NewInspector(info.SHA256)
	_, copyErr := io.Copy(fan.with(insp, insp.Err), br)
	fan.close(copyErr)
	insp.Close()
	wg.Wait()
	_, verr := insp.Result()

	switch {
	case verr != nil:
		verr = errs.Wrap(errs.Invalid, verr, "build %s of %s was refused: %v; nothing was changed", build, r.t.app.Name, verr)
	case copyErr != nil && !errors.Is(copyErr, errAllGone):
		verr = errs.Wrap(errs.Unavailable, copyErr, "reading build %s of %s failed", build, r.t.app.Name)
	}
	if err := r.stopErr(); err != nil && verr == nil {
		verr = err
	}
	var failed []error
	for i, h := range wave {
		err := hostErr[i]
		if verr != nil || err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.t.env.StepTimeout.D())
			if _, derr := r.sessions[h.Name].Run(cctx, Command{Script: discardScript(r.t.app.Path, tmp)}); derr != nil {
				r.e.log.Warn("discard partial release", "host", h.Name, "err", derr)
			}
			cancel()
		}
		if err != nil {
			failed = append(failed, err)
			r.setHost(h.Name, func(hr *HostResult) { hr.State, hr.Error = HostFailed, err.Error() })
		}
	}
	if verr != nil {
		return verr
	}
	if len(failed) > 0 {
		return errs.Wrap(errs.Unavailable, errors.Join(failed...), "delivery failed on %d of %d hosts (%v); nothing was switched", len(failed), len(wave), failed[0])
	}
	for _, h := range wave {
		_, err := r.step(ctx, h, StepInstall, Command{Script: finalizeScript(r.t.app.Path, tmp, build, r.t.app.Shared)})
		if err != nil {
			r.setHost(h.Name, func(hr *HostResult) { hr.State, hr.Error = HostFailed, err.Error() })
			return errs.Wrap(errs.Unavailable, err, "installing release %s failed on %s; nothing was switched", build, h.Name)
		}
		r.setHost(h.Name, func(hr *HostResult) { hr.State = HostDelivered })
	}
	return nil
}

// migrate lists pending migrations on the first host and runs them there
// when the app has a migrate command, before any host switches.
func (r *run) migrate() error {
	m := r.t.app.Migrations
	if m.List == "" {
		return nil
	}
	h := r.hosts[0]
	dir := r.t.app.Path + "/releases/" + r.rec.Build
	env := r.cmdEnv(h, r.rec.Build, r.rec.Previous)
	out, err := r.step(r.ctx, h, StepPending, Command{Script: inDir(dir, env, m.List)})
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "listing migrations failed on %s; nothing was switched", h.Name)
	}
	var pending []string
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			pending = append(pending, line)
		}
	}
	r.update(func(rec *Record) { rec.Migrations = pending })
	r.emit(Event{Kind: EventMigrations, Host: h.Name, Migrations: pending})
	if len(pending) == 0 || m.Run == "" {
		return nil
	}
	if err := r.fence(r.ctx); err != nil {
		return err
	}
	if _, err := r.step(r.ctx, h, StepMigrate, Command{Script: inDir(dir, env, m.Run)}); err != nil {
		return errs.Wrap(errs.Unavailable, err, "migrations failed on %s; nothing was switched", h.Name)
	}
	return nil
}

// activateAll switches hosts in batches of BatchSize; the first failure
// stops it. Hosts that were already current are left alone.
func (r *run) activateAll() error {
	var todo []Host
	for _, h := range r.hosts {
		if r.states[h.Name].Current != r.rec.Build {
			todo = append(todo, h)
		}
	}
	size := r.t.env.BatchSize
	for start := 0; start < len(todo); start += size {
		if err := r.fence(r.ctx); err != nil {
			return err
		}
		batch := todo[start:min(start+size, len(todo))]
		errsCh := make([]error, len(batch))
		var wg sync.WaitGroup
		for i, h := range batch {
			wg.Go(func() { errsCh[i] = r.activate(h, r.rec.Build, r.states[h.Name].Current) })
		}
		wg.Wait()
		if err := errors.Join(errsCh...); err != nil {
			return err
		}
	}
	// A cancel that arrived during the last batch still counts: the
	// deploy is not done until it is reported done.
	return r.stopErr()
}

// activate switches one host to build, restarts it and checks its health.
// Steps run to completion even when the deploy is cancelled meanwhile:
// a host is never left half-restarted.
func (r *run) activate(h Host, build, previous string) error {
	ctx := context.WithoutCancel(r.ctx)
	r.setHost(h.Name, func(hr *HostResult) { hr.State = HostActivating })
	fail := func(err error) error {
		r.setHost(h.Name, func(hr *HostResult) { hr.State, hr.Error = HostFailed, err.Error() })
		// What failed on a host is what people need to read.
		return errs.Wrap(errs.Unavailable, err, "%v", err)
	}
	if _, err := r.step(ctx, h, StepActivate, Command{Script: switchScript(r.t.app.Path, build, previous, nonce())}); err != nil {
		return fail(err)
	}
	r.setHost(h.Name, func(hr *HostResult) { hr.Current = build })
	if err := r.restartAndCheck(ctx, h, build, previous); err != nil {
		return fail(err)
	}
	r.setHost(h.Name, func(hr *HostResult) { hr.State = HostActive })
	return nil
}

func (r *run) restartAndCheck(ctx context.Context, h Host, build, previous string) error {
	if r.t.app.Restart != "" {
		if _, err := r.step(ctx, h, StepRestart, Command{Script: inDir(r.t.app.Path, r.cmdEnv(h, build, previous), r.t.app.Restart)}); err != nil {
			return err
		}
	}
	r.emit(Event{Kind: EventStep, Host: h.Name, Step: StepHealth})
	err := r.e.checkHealth(ctx, r, h, build)
	ev := Event{Kind: EventStep, Host: h.Name, Step: StepHealth, Done: true}
	if err != nil {
		err = fmt.Errorf("health on %s: %w", h.Name, err)
		ev.Err = err.Error()
	}
	r.emit(ev)
	return err
}

// revertAll switches every host this deploy switched back to the release it
// ran before, restarts and checks it, and marks the new release bad.
func (r *run) revertAll(cause error) (Outcome, error) {
	build := r.rec.Build
	ctx := context.WithoutCancel(r.ctx)
	r.note("switching back: %v", errs.Message(cause))
	var reverted, stuck []string
	for _, h := range r.hosts {
		r.mu.Lock()
		hr := *r.rec.Host(h.Name)
		r.mu.Unlock()
		st := r.states[h.Name]
		switchedHere := hr.Current == build && st.Current != build
		if hr.State == HostDelivered || hr.State == HostDelivering || hr.State == HostPending {
			r.setHost(h.Name, func(hr *HostResult) { hr.State = HostUnchanged })
		}
		if _, err := r.sessions[h.Name].Run(ctx, Command{Script: markBadScript(r.t.app.Path, build), Timeout: r.t.env.StepTimeout.D()}); err != nil {
			r.e.log.Warn("mark release bad", "host", h.Name, "build", build, "err", err)
		}
		if !switchedHere {
			continue
		}
		if st.Current == "" {
			stuck = append(stuck, h.Name)
			r.setHost(h.Name, func(hr *HostResult) {
				hr.Error = joinErr(hr.Error, "no earlier release to switch back to")
			})
			continue
		}
		err := r.switchBack(ctx, h, st)
		if err != nil {
			stuck = append(stuck, h.Name)
			r.setHost(h.Name, func(hr *HostResult) { hr.State, hr.Error = HostFailed, joinErr(hr.Error, "switch back: "+err.Error()) })
			continue
		}
		reverted = append(reverted, h.Name)
		r.setHost(h.Name, func(hr *HostResult) { hr.State, hr.Current = HostReverted, st.Current })
	}
	msg := fmt.Sprintf("%s; release %s marked bad", errs.Message(cause), build)
	if len(reverted) > 0 {
		msg += fmt.Sprintf("; switched back to %s on %s", r.rec.Previous, strings.Join(reverted, ", "))
	}
	if len(stuck) > 0 {
		msg += fmt.Sprintf("; could NOT switch back %s — check them and /rollback", strings.Join(stuck, ", "))
	}
	err := errs.Wrap(errs.CodeOf(cause), cause, "%s", msg)
	if errors.Is(cause, errCancelled) && len(stuck) == 0 {
		return OutcomeCancelled, err
	}
	return OutcomeReverted, err
}

// switchBack points a host at the release it ran before this deploy.
func (r *run) switchBack(ctx context.Context, h Host, before hostState) error {
	if _, err := r.step(ctx, h, StepRevert, Command{Script: switchScript(r.t.app.Path, before.Current, before.Previous, nonce())}); err != nil {
		return err
	}
	return r.restartAndCheck(ctx, h, before.Current, before.Previous)
}

// pruneAll removes old releases on every host; failures are reported, not fatal.
func (r *run) pruneAll() {
	ctx := context.WithoutCancel(r.ctx)
	for _, h := range r.hosts {
		out, err := r.sessions[h.Name].Run(ctx, Command{Script: pruneScript(r.t.app.Path, r.t.app.KeepReleases), Timeout: r.t.env.StepTimeout.D()})
		if err != nil {
			r.note("pruning old releases on %s failed: %v", h.Name, err)
			continue
		}
		var pruned []string
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "pruned="); ok {
				pruned = append(pruned, v)
			}
		}
		if len(pruned) > 0 {
			r.note("%s: removed old releases %s", h.Name, strings.Join(pruned, ", "))
		}
	}
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
