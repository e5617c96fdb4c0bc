package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// A year of use, as benchmarks of the read paths load it: YearApps apps in
// YearEnvs, YearRecords deploy records and YearAudit audit entries spread
// over the year before YearNow, some locks and grants.
const (
	YearRecords = 20000
	YearAudit   = 200000
	YearApps    = 30
)

// YearEnvs are the envs of every app of the year.
var YearEnvs = []string{"staging", "canary", "production"}

// YearNow is when the year of SeedYear ends.
var YearNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// YearStale is the app/env of the year whose last deploy is a year old:
// a lookup of its history walks past every other record.
const YearStale = "app-29/canary"

// YearApp names the i-th app of the year.
func YearApp(i int) string { return fmt.Sprintf("app-%02d", i%YearApps) }

// YearRecord is the i-th deploy record of the year, oldest first: staging
// is deployed most, production of every other app runs on 50 hosts, one
// deploy in 17 fails and one in 50 is a rollback.
func YearRecord(i int) *deploy.Record {
	step := 365 * 24 * time.Hour / YearRecords
	started := YearNow.Add(-365 * 24 * time.Hour).Add(time.Duration(i) * step)
	app := YearApp(i)
	env := "staging"
	switch (i / YearApps) % 10 {
	case 5, 6:
		env = "canary"
	case 7, 8, 9:
		env = "production"
	}
	if app+"/"+env == YearStale && i > YearRecords/50 {
		env = "staging"
	}
	hosts := 3
	if env == "production" && (i%YearApps)%2 == 0 {
		hosts = 50
	}
	build := fmt.Sprintf("2026.%05d", i)
	prev := fmt.Sprintf("2026.%05d", max(i-YearApps*10, 0))
	r := &deploy.Record{
		ID: fmt.Sprintf("d%08d", i), Kind: deploy.KindDeploy, App: app, Env: env,
		Build: build, Previous: prev, Requester: fmt.Sprintf("user-%d", i%40), Platform: "slack", Channel: "C123",
		Started: started, Finished: started.Add(90 * time.Second), Outcome: deploy.OutcomeSucceeded,
	}
	switch {
	case i%50 == 0:
		r.Kind, r.Build, r.Previous = deploy.KindRollback, prev, build
	case i%17 == 0:
		r.Outcome = deploy.OutcomeFailed
	}
	for h := range hosts {
		r.Hosts = append(r.Hosts, deploy.HostResult{Host: fmt.Sprintf("%s-web-%02d", app, h), State: deploy.HostActive, Current: r.Build, Previous: r.Previous, Switched: true})
	}
	return r
}

// YearEntry is the i-th audit entry of the year, oldest first; one in
// 997 is an error spike.
func YearEntry(i int) *audit.Entry {
	step := 365 * 24 * time.Hour / YearAudit
	app := YearApp(i)
	env := YearEnvs[(i/YearApps)%len(YearEnvs)]
	e := &audit.Entry{
		Time: YearNow.Add(-365 * 24 * time.Hour).Add(time.Duration(i) * step),
		User: fmt.Sprintf("user-%d", i%40), Platform: "slack", Channel: "C123",
		Command: "status " + app, Action: "status", App: app, Env: env, Decision: audit.Allowed,
	}
	if i%997 == 0 {
		e.Command, e.Action, e.User = "error spike", "spike", "sentry"
	}
	return e
}

// SeedYear writes the year into s, from several goroutines as replicas
// would, which makes loading a networked store bearable.
func SeedYear(tb testing.TB, s Store) {
	tb.Helper()
	ctx := tb.Context()
	const workers = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	for w := range workers {
		wg.Go(func() {
			for i := w; i < YearRecords; i += workers {
				if err := s.PutRecord(ctx, YearRecord(i)); err != nil {
					fail(fmt.Errorf("record %d: %w", i, err))
					return
				}
			}
			for i := w; i < YearAudit; i += workers {
				if err := s.AppendAudit(ctx, YearEntry(i)); err != nil {
					fail(fmt.Errorf("audit entry %d: %w", i, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		tb.Fatalf("seed a year: %v", first)
	}
	for i := range 10 {
		l := deploy.Lock{App: YearApp(i * 3), Env: "production", Owner: "ana", Reason: "db maintenance", Created: YearNow.Add(-time.Hour)}
		if err := s.PutLock(ctx, l); err != nil {
			tb.Fatalf("seed a year: %v", err)
		}
	}
	for i := range 50 {
		g := acl.Grant{User: fmt.Sprintf("user-%d", i), Role: "deployer", App: YearApp(i), Env: "production", Expires: YearNow.Add(24 * time.Hour)}
		if err := s.PutGrant(ctx, g); err != nil {
			tb.Fatalf("seed a year: %v", err)
		}
	}
}

// BenchYear measures, on s seeded with SeedYear, the reads that commands
// and the engine make of the store: each sub-benchmark is one command's
// (or one deploy step's) reads, as they call them.
func BenchYear(b *testing.B, s Store) {
	ctx := b.Context()
	busy, stale := YearApp(0), "app-29"
	records := func(b *testing.B, f deploy.Filter) []*deploy.Record {
		b.Helper()
		recs, err := s.Records(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		return recs
	}
	entries := func(b *testing.B, q audit.Query) []audit.Entry {
		b.Helper()
		es, err := s.Audit(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		return es
	}
	locks := func(b *testing.B) {
		b.Helper()
		if _, err := s.Locks(ctx); err != nil {
			b.Fatal(err)
		}
	}
	grants := func(b *testing.B) {
		b.Helper()
		if _, err := s.Grants(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		run  func(b *testing.B)
	}{
		// status: the locks, then the last run of every app/env.
		{"status", func(b *testing.B) {
			locks(b)
			for i := range YearApps {
				for _, env := range YearEnvs {
					records(b, deploy.Filter{App: YearApp(i), Env: env, Limit: 1})
				}
			}
		}},
		{"status APP", func(b *testing.B) {
			locks(b)
			for _, env := range YearEnvs {
				records(b, deploy.Filter{App: stale, Env: env, Limit: 1})
			}
		}},
		{"history APP ENV 100", func(b *testing.B) {
			if n := len(records(b, deploy.Filter{App: busy, Env: "production", Limit: 100})); n != 100 {
				b.Fatalf("history: got %d records, want 100", n)
			}
		}},
		{"history STALE 100", func(b *testing.B) {
			records(b, deploy.Filter{App: stale, Env: "canary", Limit: 100})
		}},
		{"audit 200", func(b *testing.B) {
			if n := len(entries(b, audit.Query{Limit: 200})); n != 200 {
				b.Fatalf("audit: got %d entries, want 200", n)
			}
		}},
		{"audit APP 200", func(b *testing.B) {
			entries(b, audit.Query{App: busy, Limit: 400})
		}},
		{"stats APP 30d", func(b *testing.B) {
			since := YearNow.Add(-30 * 24 * time.Hour)
			records(b, deploy.Filter{App: busy, Since: since})
			entries(b, audit.Query{App: busy, Since: since})
		}},
		{"whoami", grants},
		{"gate checks", func(b *testing.B) {
			grants(b)
			locks(b)
		}},
		// A deploy's start: the interrupted run it may have to resolve,
		// the runs still marked running, the recent records (previous
		// release, pool check).
		{"deploy start", func(b *testing.B) {
			records(b, deploy.Filter{App: busy, Env: "production", Limit: 20})
			records(b, deploy.Filter{App: busy, Env: "production", Outcome: deploy.OutcomeRunning})
			records(b, deploy.Filter{App: busy, Env: "production", Limit: 20})
		}},
		// A rollback's target: the newest 100 records of its app/env,
		// which show the release it goes to running as a rule (the
		// whole history only when they do not).
		{"rollback target", func(b *testing.B) {
			records(b, deploy.Filter{App: busy, Env: "production", Limit: 100})
		}},
		// Recovery: the running records, as every replica lists them
		// every few seconds and the bot at start-up.
		{"recovery scan", func(b *testing.B) {
			records(b, deploy.Filter{Outcome: deploy.OutcomeRunning})
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.run(b)
			}
		})
	}
}
