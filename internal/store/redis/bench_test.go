package redis_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/store/storetest"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// BenchmarkAcquireRelease takes and gives back one lease: what every
// deploy pays at its start and end.
func BenchmarkAcquireRelease(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		l, err := s.Acquire(b.Context(), "accounting/production", "bot-1", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLeaseCheck is the fencing check a deploy makes before it
// switches each host.
func BenchmarkLeaseCheck(b *testing.B) {
	s := benchStore(b)
	l, err := s.Acquire(b.Context(), "accounting/production", "bot-1", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := l.Check(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	s := benchStore(b)
	e := audit.Entry{User: "ana", Platform: "slack", Channel: "C123", Command: "/deploy accounting production 2025.03.14-1",
		Action: "deploy", App: "accounting", Env: "production", Decision: audit.Allowed}
	for b.Loop() {
		c := e
		if err := s.AppendAudit(b.Context(), &c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetOnce(b *testing.B) {
	s := benchStore(b)
	for i := 0; b.Loop(); i++ {
		if _, err := s.SetOnce(b.Context(), fmt.Sprintf("slack:Ev%08d", i), 10*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutRecord(b *testing.B) {
	s := benchStore(b)
	r := benchRecord(0)
	for i := 0; b.Loop(); i++ {
		r.ID = fmt.Sprintf("d%08d", i)
		r.Started = r.Started.Add(time.Second)
		if err := s.PutRecord(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecords lists the newest 20 of 10,000 records, with and without
// a filter that one record in ten matches.
func BenchmarkRecords(b *testing.B) {
	s := benchStore(b)
	for i := range 10000 {
		if err := s.PutRecord(b.Context(), benchRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		f    deploy.Filter
	}{
		{"limit", deploy.Filter{Limit: 20}},
		{"app limit", deploy.Filter{App: "app-3", Limit: 20}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				recs, err := s.Records(b.Context(), bc.f)
				if err != nil || len(recs) != 20 {
					b.Fatalf("Records: got %d, %v", len(recs), err)
				}
			}
		})
	}
}

// BenchmarkRunningRecords lists the running records among 20,000 finished
// ones, as every replica does every few seconds to find interrupted
// deploys, and each deploy does before it starts. "other outcome" lists by
// an outcome that walks the whole index, as listing the running records
// did before the store kept them apart. scripts/op is how many scripts
// Redis ran per listing.
func BenchmarkRunningRecords(b *testing.B) {
	srv := redisserver.Start(b)
	s := openStore(b, redis.Options{URL: srv.URL(), Prefix: newPrefix()})
	rdb := directClient(b, srv)
	for i := range 20000 {
		if err := s.PutRecord(b.Context(), benchRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	// Three running records, new and old, all of app-0.
	for _, i := range []int{19990, 10000, 100} {
		r := benchRecord(i)
		r.ID, r.Outcome = fmt.Sprintf("r%08d", i), deploy.OutcomeRunning
		if err := s.PutRecord(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
	// The first listing of a store that never listed the running
	// records finds them in the whole index, once.
	first := time.Now()
	if _, err := s.Records(b.Context(), deploy.Filter{Outcome: deploy.OutcomeRunning}); err != nil {
		b.Fatal(err)
	}
	b.Logf("first listing of the running records: %v", time.Since(first))
	for _, bc := range []struct {
		name string
		f    deploy.Filter
		want int
	}{
		{"running", deploy.Filter{Outcome: deploy.OutcomeRunning}, 3},
		{"running app env", deploy.Filter{App: "app-0", Env: "production", Outcome: deploy.OutcomeRunning}, 3},
		{"other outcome", deploy.Filter{Outcome: deploy.OutcomeFailed}, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			before := scriptRuns(b, rdb)
			n := 0
			for ; b.Loop(); n++ {
				recs, err := s.Records(b.Context(), bc.f)
				if err != nil || len(recs) != bc.want {
					b.Fatalf("Records: got %d, %v; want %d", len(recs), err, bc.want)
				}
			}
			b.ReportMetric(float64(scriptRuns(b, rdb)-before)/float64(n), "scripts/op")
		})
	}
}

// scriptRuns returns how many scripts the Redis of rdb has run: EVALSHA
// calls that found their script, and EVAL calls.
func scriptRuns(b *testing.B, rdb *goredis.Client) int {
	b.Helper()
	info, err := rdb.Info(b.Context(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		for kv := range strings.SplitSeq(stats, ",") {
			k, v, _ := strings.Cut(kv, "=")
			c, _ := strconv.Atoi(v)
			switch k {
			case "calls":
				n += c
			case "failed_calls":
				n -= c
			}
		}
	}
	return n
}

func benchStore(b *testing.B) *redis.Store {
	b.Helper()
	srv := redisserver.Start(b)
	return openStore(b, redis.Options{URL: srv.URL(), Prefix: newPrefix()})
}

func benchRecord(i int) *deploy.Record {
	started := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	return &deploy.Record{
		ID: fmt.Sprintf("d%08d", i), Kind: deploy.KindDeploy, App: fmt.Sprintf("app-%d", i%10), Env: "production",
		Build: "2025.03.14-1", Previous: "2025.03.13-2", Requester: "ana", Platform: "slack", Channel: "C123",
		Started: started, Finished: started.Add(90 * time.Second), Outcome: deploy.OutcomeSucceeded,
		Hosts: []deploy.HostResult{
			{Host: "web-1", State: deploy.HostActive, Current: "2025.03.14-1", Previous: "2025.03.13-2"},
			{Host: "web-2", State: deploy.HostActive, Current: "2025.03.14-1", Previous: "2025.03.13-2"},
			{Host: "web-3", State: deploy.HostActive, Current: "2025.03.14-1", Previous: "2025.03.13-2"},
		},
	}
}

// BenchmarkYear measures the reads of commands and deploys on a store a
// year old (see storetest.BenchYear).
func BenchmarkYear(b *testing.B) {
	srv := redisserver.Start(b)
	s := openStore(b, redis.Options{URL: srv.URL(), Prefix: newPrefix(), MaxClockSkew: -1, Now: func() time.Time { return storetest.YearNow }})
	started := time.Now()
	storetest.SeedYear(b, s)
	b.Logf("seeded a year in %v", time.Since(started))
	storetest.BenchYear(b, s)
}
