package train

import "time"

// SetLeaseClock has s time its departure leases by now: a test that moves
// it passes a lease's TTL when it means to, not when a loaded machine
// holds up a renewal that long.
func SetLeaseClock(s *Scheduler, now func() time.Time) { s.leaseClock = now }
