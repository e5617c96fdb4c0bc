package deploy

import (
	"log/slog"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
)

// startWatch logs what a run waits for while it starts: a deploy that
// hangs taking its lease or opening its hosts writes no record and has
// not logged its start (see logStart), and without this the log would
// show nothing of it. Safe for concurrent use.
type startWatch struct {
	log   *slog.Logger
	kind  Kind
	mu    sync.Mutex
	told  bool // the log says how the request ended: started, or not
	stage string
	began time.Time
	stop  chan struct{}
	once  sync.Once
}

// watchStart logs the request of a run at INFO, then, every slowStart
// until done is called, what it is waiting for at WARN.
func (e *Engine) watchStart(log *slog.Logger, kind Kind, req Request) *startWatch {
	w := &startWatch{log: log, kind: kind, stage: "taking the lease", began: time.Now(), stop: make(chan struct{})}
	log.Info(string(kind)+" requested", "kind", kind, "build", req.Build, "requester", req.Requester)
	go func() {
		tick := time.NewTicker(e.slowStart)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				w.mu.Lock()
				stage, waited := w.stage, time.Since(w.began).Round(time.Second)
				w.mu.Unlock()
				log.Warn(string(kind)+" still starting", "kind", kind, "build", req.Build, "requester", req.Requester,
					"waiting_for", stage, "waited", waited)
			}
		}
	}()
	return w
}

// at says what the run waits for now; a nil watch (a dry run's) does
// nothing.
func (w *startWatch) at(stage string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.stage = stage
	w.mu.Unlock()
}

// done ends the watch: the run started, or never will. A nil watch does
// nothing.
func (w *startWatch) done() {
	if w != nil {
		w.once.Do(func() { close(w.stop) })
	}
}

// settle notes that the log says how the run went (its start, or its end
// when it was recorded without starting): nothing more is said of its
// request.
func (w *startWatch) settle() {
	if w == nil {
		return
	}
	w.done()
	w.mu.Lock()
	w.told = true
	w.mu.Unlock()
}

// end ends the watch of a run that did not start, for err: logged once,
// at INFO, unless the log already says how the run went, so that every
// request logged is followed by its start or by why it did not start (a
// busy app+env, unreachable hosts, nothing to do).
func (w *startWatch) end(err error) {
	if w == nil {
		return
	}
	w.done()
	w.mu.Lock()
	told := w.told
	w.told = true
	w.mu.Unlock()
	if !told {
		w.log.Info(string(w.kind)+" not started", "kind", w.kind, "err", errs.Message(err))
	}
}
