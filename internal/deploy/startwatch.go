package deploy

import (
	"log/slog"
	"sync"
	"time"
)

// startWatch logs what a run waits for while it starts: a deploy that
// hangs taking its lease or opening its hosts writes no record and has
// not logged its start (see logStart), and without this the log would
// show nothing of it. Safe for concurrent use.
type startWatch struct {
	mu    sync.Mutex
	stage string
	began time.Time
	stop  chan struct{}
	once  sync.Once
}

// watchStart logs the request of a run at INFO, then, every slowStart
// until done is called, what it is waiting for at WARN.
func (e *Engine) watchStart(log *slog.Logger, kind Kind, req Request) *startWatch {
	w := &startWatch{stage: "taking the lease", began: time.Now(), stop: make(chan struct{})}
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
