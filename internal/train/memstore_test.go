package train

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// MemStore is a Store in memory for the scheduler's tests; contract_test
// runs the stores' contract against it. It also keeps a log of MarkRun
// calls. It is safe for concurrent use.
type MemStore struct {
	mu    sync.Mutex
	cars  map[string][]Car
	runs  map[string]time.Time
	marks []string
	// notes holds what MarkCancel recorded with the departure, by train.
	notes map[string]Cancellation
	// off holds the cars someone took off, by train NUL app.
	off map[string]TakenOff
	// fail, when set, is returned by every method.
	fail error
	// failLastRun, when set, is returned by LastRun of its kind.
	failLastRun map[string]error
	// failMark, when set, is returned by MarkRun of its kind, after the
	// mark is made if failMarkLands (its reply lost).
	failMark      map[string]error
	failMarkLands bool
	// failLeave, failOnce, failCars and failReturn, when set, are
	// returned by Leave, by SetOnce and ForgetOnce, by Cars and by
	// ReturnCars.
	failLeave, failOnce, failCars, failReturn error
	// audit is what AppendAudit appended.
	audit []audit.Entry
	// afterMark, when set, runs after each MarkRun, with the lock held.
	afterMark func(kind string)
	// reads counts the LastRun calls, by train and kind.
	reads map[string]int
	// unended holds, by train and ID, the departures started and not
	// ended.
	unended map[string]map[string]trainstore.Departure
	// once holds the keys SetOnce set (for good: the tests are short),
	// each with the token of SetOnceToken.
	once map[string]string
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{cars: map[string][]Car{}, runs: map[string]time.Time{}}
}

func (m *MemStore) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.fail
}

func (m *MemStore) Board(ctx context.Context, name string, car Car, maxCars int, counts func(Car) bool) (*Car, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("board: %w", err)
	}
	cars := m.cars[name]
	var replaced *Car
	for i, c := range cars {
		if c.App == car.App {
			replaced = &c
			cars = append(cars[:i:i], cars[i+1:]...)
			break
		}
	}
	if n := trainstore.Counted(cars, counts); replaced == nil && maxCars > 0 && n >= maxCars {
		return nil, errs.New(errs.Conflict, "the %s train is full (%d cars)", name, n)
	}
	m.cars[name] = append(cars, car)
	return replaced, nil
}

func (m *MemStore) Leave(ctx context.Context, name, app, by string, at time.Time) (Car, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return Car{}, fmt.Errorf("leave: %w", err)
	}
	if m.failLeave != nil {
		return Car{}, fmt.Errorf("leave: %w", m.failLeave)
	}
	cars := m.cars[name]
	for i, c := range cars {
		if c.App == app {
			m.cars[name] = append(cars[:i:i], cars[i+1:]...)
			if by != "" {
				if m.off == nil {
					m.off = map[string]TakenOff{}
				}
				m.off[name+"\x00"+app] = TakenOff{Car: c, By: by, At: at}
			}
			return c, nil
		}
	}
	return Car{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "%s is not aboard the %s train", app, name)
}

func (m *MemStore) TakenOff(ctx context.Context, name, app string) (TakenOff, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return TakenOff{}, fmt.Errorf("taken off: %w", err)
	}
	return m.off[name+"\x00"+app], nil
}

func (m *MemStore) Cars(ctx context.Context, name string) ([]Car, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("cars: %w", err)
	}
	if m.failCars != nil {
		return nil, fmt.Errorf("cars: %w", m.failCars)
	}
	return append([]Car(nil), m.cars[name]...), nil
}

func (m *MemStore) ReturnCars(ctx context.Context, name string, back []Car) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("return cars: %w", err)
	}
	if m.failReturn != nil {
		return fmt.Errorf("return cars: %w", m.failReturn)
	}
	if cars := trainstore.Returned(m.cars[name], back); len(cars) > 0 {
		m.cars[name] = cars
	}
	return nil
}

func (m *MemStore) AppendAudit(ctx context.Context, e *audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	m.audit = append(m.audit, *e)
	return nil
}

// audited returns the audit entries as "user decision: command: reason".
func (m *MemStore) audited() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.audit {
		out = append(out, fmt.Sprintf("%s %s: %s: %s", e.User, e.Decision, e.Command, e.Reason))
	}
	return out
}

func (m *MemStore) MarkRun(ctx context.Context, name, kind string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.markRun(ctx, name, kind, at, nil)
}

// markRun is MarkRun with m.mu held; with also, which runs before the
// mark, in the same write.
func (m *MemStore) markRun(ctx context.Context, name, kind string, at time.Time, also func()) error {
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("mark run: %w", err)
	}
	if err := m.failMark[kind]; err != nil && !m.failMarkLands {
		return fmt.Errorf("mark run: %w", err)
	}
	if also != nil {
		also()
	}
	m.runs[name+"\x00"+kind] = at
	m.marks = append(m.marks, fmt.Sprintf("%s %s %s", at.Format("Mon 2006-01-02 15:04 MST"), name, kind))
	if m.afterMark != nil {
		m.afterMark(kind)
	}
	if err := m.failMark[kind]; err != nil {
		return fmt.Errorf("mark run: %w", err)
	}
	return nil
}

func (m *MemStore) LastRun(ctx context.Context, name, kind string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return time.Time{}, fmt.Errorf("last run: %w", err)
	}
	if m.reads == nil {
		m.reads = map[string]int{}
	}
	m.reads[name+"\x00"+kind]++
	if err := m.failLastRun[kind]; err != nil {
		return time.Time{}, fmt.Errorf("last run: %w", err)
	}
	return m.runs[name+"\x00"+kind], nil
}

func (m *MemStore) MarkCancel(ctx context.Context, name string, c Cancellation) error {
	if err := m.MarkRun(ctx, name, KindCancel, c.At); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.notes == nil {
		m.notes = map[string]Cancellation{}
	}
	m.notes[name] = c
	return nil
}

func (m *MemStore) LastCancel(ctx context.Context, name string) (Cancellation, error) {
	at, err := m.LastRun(ctx, name, KindCancel)
	if err != nil || at.IsZero() {
		return Cancellation{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := Cancellation{At: at}
	if n := m.notes[name]; n.At.Equal(at) {
		c.User, c.Reason = n.User, n.Reason
	}
	return c, nil
}

// keepOld keeps the departure the old-shape records of train name leave
// unended among its unended departures; m.mu is held.
func (m *MemStore) keepOld(name string) {
	r := func(kind string) time.Time { return m.runs[name+"\x00"+kind] }
	for _, d := range trainstore.OldUnended(r(KindDeparture), r(KindEnded), r(KindEarly), r(KindEarlyEnded)) {
		m.addUnended(name, d)
	}
}

func (m *MemStore) addUnended(name string, d trainstore.Departure) {
	if m.unended == nil {
		m.unended = map[string]map[string]trainstore.Departure{}
	}
	if m.unended[name] == nil {
		m.unended[name] = map[string]trainstore.Departure{}
	}
	m.unended[name][d.ID()] = d
}

// StartDeparture is MarkRun of KindDeparture (KindEarly), failing and
// logged as it is, that also records d unended.
func (m *MemStore) StartDeparture(ctx context.Context, name string, d trainstore.Departure) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	kind := KindDeparture
	if d.Early {
		kind = KindEarly
	}
	return m.markRun(ctx, name, kind, d.At, func() {
		m.keepOld(name)
		m.addUnended(name, d)
	})
}

// EndDeparture is MarkRun of KindEnded (KindEarlyEnded), failing and
// logged as it is, that ends d, and records none earlier than the last
// ended; it drops the records of cars taken off as the real stores do.
func (m *MemStore) EndDeparture(ctx context.Context, name string, d trainstore.Departure) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	kind := KindEnded
	if d.Early {
		kind = KindEarlyEnded
	}
	at := d.At
	if last := m.runs[name+"\x00"+kind]; last.After(at) {
		at = last
	}
	return m.markRun(ctx, name, kind, at, func() {
		m.keepOld(name)
		delete(m.unended[name], d.ID())
		cut := trainstore.OffCutoff(d, slices.Collect(maps.Values(m.unended[name])))
		for k, off := range m.off {
			if strings.HasPrefix(k, name+"\x00") && off.At.Before(cut) {
				delete(m.off, k)
			}
		}
	})
}

// readUnended counts, for readsOf, the reads of Unended.
const readUnended = "unended"

// Unended returns the departures of train name started and not ended.
func (m *MemStore) Unended(ctx context.Context, name string) ([]trainstore.Departure, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("unended: %w", err)
	}
	if m.reads == nil {
		m.reads = map[string]int{}
	}
	m.reads[name+"\x00"+readUnended]++
	var out []trainstore.Departure
	for _, d := range m.unended[name] {
		out = append(out, d)
	}
	r := func(kind string) time.Time { return m.runs[name+"\x00"+kind] }
	for _, d := range trainstore.OldUnended(r(KindDeparture), r(KindEnded), r(KindEarly), r(KindEarlyEnded)) {
		if _, ok := m.unended[name][d.ID()]; !ok {
			out = append(out, d)
		}
	}
	trainstore.SortDepartures(out)
	return out, nil
}

// Marks returns the MarkRun log: "Sun 2026-03-29 03:00 CEST night
// departure", without the ends of departures (KindEnded), which every
// departure audited records.
func (m *MemStore) Marks() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, mk := range m.marks {
		if !strings.HasSuffix(mk, " "+KindEnded) {
			out = append(out, mk)
		}
	}
	return out
}

// setFailLastRun makes LastRun of kind fail with err (nil: succeed again).
func (m *MemStore) setFailLastRun(kind string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failLastRun == nil {
		m.failLastRun = map[string]error{}
	}
	m.failLastRun[kind] = err
}

// setFail makes every method fail with err (nil: succeed again).
func (m *MemStore) setFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

// SetOnce sets key, for good, and reports whether it was newly set.
func (m *MemStore) SetOnce(ctx context.Context, key string, _ time.Duration) (bool, error) {
	return m.SetOnceToken(ctx, key, "", 0)
}

// SetOnceToken is SetOnce with token kept with the key, for ForgetOnce.
func (m *MemStore) SetOnceToken(ctx context.Context, key, token string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return false, fmt.Errorf("set once: %w", err)
	}
	if m.failOnce != nil {
		return false, fmt.Errorf("set once: %w", m.failOnce)
	}
	if _, ok := m.once[key]; ok {
		return false, nil
	}
	if m.once == nil {
		m.once = map[string]string{}
	}
	m.once[key] = token
	return true, nil
}

// ForgetOnce removes key if SetOnceToken set it with token.
func (m *MemStore) ForgetOnce(ctx context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("forget once: %w", err)
	}
	if m.failOnce != nil {
		return fmt.Errorf("forget once: %w", m.failOnce)
	}
	if t, ok := m.once[key]; ok && t == token && token != "" {
		delete(m.once, key)
	}
	return nil
}

func (m *MemStore) Trains(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("list trains: %w", err)
	}
	var names []string
	for name, cars := range m.cars {
		if len(cars) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// readsOf returns how many times LastRun read kind of train name, or
// with readUnended, how many times Unended read its departures.
func (m *MemStore) readsOf(name, kind string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads[name+"\x00"+kind]
}

// setFailMark makes MarkRun of kind fail with err (nil: succeed again),
// after making the mark if lands.
func (m *MemStore) setFailMark(kind string, err error, lands bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failMark == nil {
		m.failMark = map[string]error{}
	}
	m.failMark[kind] = err
	m.failMarkLands = lands
}
