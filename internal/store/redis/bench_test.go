package redis_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
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
