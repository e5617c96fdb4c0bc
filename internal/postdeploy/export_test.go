package postdeploy

// InFlight is how many deploys the watcher holds work for.
func InFlight(w *Watcher) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.started)
}
