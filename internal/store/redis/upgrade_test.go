package redis

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// members returns the top-level members of the JSON object v.
func members(t *testing.T, v string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		t.Fatalf("stored value %q: %v", v, err)
	}
	return m
}

// TestNewerMembersKept writes a record and a lock as a replica of a newer
// version would, with members this one does not know, then changes them
// as this version does (a recovery marking the record interrupted, a lock
// passing to the bot): the stored values keep those members.
func TestNewerMembersKept(t *testing.T) {
	s := openPrefix(t, redisserver.Start(t), "newer:")
	ctx := t.Context()

	t.Run("record", func(t *testing.T) {
		const stored = `{"id":"d1","kind":"deploy","app":"web","env":"prod","build":"2","previous":"1","requester":"ana",` +
			`"started":"2026-12-01T10:00:00Z","outcome":"running","approved_by":["bo"],` +
			`"hosts":[{"host":"web-1","state":"activating","current":"2","switched":true,"drained":"lb-1"}],"fence":5}`
		// What PutRecord writes, but the record as its writer encoded it.
		member := timeKey(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) + "d1\x00web\x00prod\x00running"
		for _, c := range [][]any{
			{"HSET", s.key("records"), "d1", stored},
			{"HSET", s.key("records", "member"), "d1", member},
			{"ZADD", s.key("records", "index"), 0, member},
			{"ZADD", s.key("records", "running"), 0, member},
		} {
			if err := s.client().Do(ctx, c...).Err(); err != nil {
				t.Fatal(err)
			}
		}
		rec, err := s.Record(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		rec.Outcome, rec.Finished, rec.Fence = deploy.OutcomeInterrupted, time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC), 6
		rec.Hosts[0].State = deploy.HostUnreachable
		if err := s.PutRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
		v, err := s.client().HGet(ctx, s.key("records"), "d1").Result()
		if err != nil {
			t.Fatal(err)
		}
		m := members(t, v)
		if got := string(m["approved_by"]); got != `["bo"]` {
			t.Errorf("approved_by after the write: got %q, want %q (stored %s)", got, `["bo"]`, v)
		}
		if got := string(m["outcome"]); got != `"interrupted"` {
			t.Errorf("outcome: got %s, want \"interrupted\"", got)
		}
		var hosts []map[string]json.RawMessage
		if err := json.Unmarshal(m["hosts"], &hosts); err != nil || len(hosts) != 1 {
			t.Fatalf("hosts %s: %v", m["hosts"], err)
		}
		if got := string(hosts[0]["drained"]); got != `"lb-1"` {
			t.Errorf("the host's drained after the write: got %q, want %q (stored %s)", got, `"lb-1"`, v)
		}
	})

	t.Run("lock", func(t *testing.T) {
		const stored = `{"app":"web","env":"prod","owner":"dave","reason":"db move","created":"2026-12-01T10:00:00Z","ticket":"OPS-12"}`
		if err := s.client().HSet(ctx, s.key("locks"), lockField("web", "prod"), stored).Err(); err != nil {
			t.Fatal(err)
		}
		locks, err := s.Locks(ctx)
		if err != nil || len(locks) != 1 {
			t.Fatalf("Locks: got %v, %v; want the lock", locks, err)
		}
		next := locks[0]
		next.Owner, next.Reason = "switchman", "db move (locked by dave, who is no longer in the config)"
		if _, ok, err := s.ReplaceLock(ctx, &locks[0], next); err != nil || !ok {
			t.Fatalf("ReplaceLock: got %v, %v; want it replaced", ok, err)
		}
		v, err := s.client().HGet(ctx, s.key("locks"), lockField("web", "prod")).Result()
		if err != nil {
			t.Fatal(err)
		}
		m := members(t, v)
		if got := string(m["ticket"]); got != `"OPS-12"` {
			t.Errorf("ticket after the replacement: got %q, want %q (stored %s)", got, `"OPS-12"`, v)
		}
		if got := string(m["owner"]); got != `"switchman"` {
			t.Errorf("owner: got %s, want \"switchman\"", got)
		}
	})
}

// TestOldDepartureRecordsRead: a Redis in which a version before
// StartDeparture recorded a train's departures, one field per kind, with
// Monday's departure and one sent off early newer than their ends, reads
// both as unended; Tuesday's, started and ended after, leaves them so.
func TestOldDepartureRecordsRead(t *testing.T) {
	s := openPrefix(t, redisserver.Start(t), "old:")
	ctx := t.Context()
	mon := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	early := time.Date(2026, 6, 1, 15, 4, 5, 600, time.UTC)
	// As MarkRun wrote them: RFC 3339 in UTC, nanoseconds when any.
	for field, v := range map[string]string{
		"daily\x00departure": "2026-06-01T12:00:00Z", "daily\x00ended": "2026-05-29T12:00:00Z",
		"daily\x00early": "2026-06-01T15:04:05.0000006Z", "daily\x00early-ended": "2026-05-29T12:00:00Z",
	} {
		if err := s.client().HSet(ctx, s.key("trains", "runs"), field, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	want := []trainstore.Departure{{At: mon}, {At: early, Early: true}}
	assertUnendedIs(t, s, want...)
	tue := trainstore.Departure{At: mon.Add(24 * time.Hour)}
	if err := s.StartDeparture(ctx, "daily", tue); err != nil {
		t.Fatal(err)
	}
	assertUnendedIs(t, s, append(want, tue)...)
	if err := s.EndDeparture(ctx, "daily", tue); err != nil {
		t.Fatal(err)
	}
	assertUnendedIs(t, s, want...)
	if err := s.EndDeparture(ctx, "daily", want[0]); err != nil {
		t.Fatal(err)
	}
	assertUnendedIs(t, s, want[1])
	// What older replicas read stays as they wrote it: the last departure
	// and the last one ended.
	if v, err := s.client().HGet(ctx, s.key("trains", "runs"), "daily\x00ended").Result(); err != nil || v != "2026-06-02T12:00:00Z" {
		t.Errorf("the last departure ended, as stored: got %q, %v; want Tuesday's", v, err)
	}
}

func assertUnendedIs(t *testing.T, s *Store, want ...trainstore.Departure) {
	t.Helper()
	got, err := s.Unended(t.Context(), "daily")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Unended: got %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].ID() != want[i].ID() {
			t.Errorf("Unended: got %+v, want %+v", got, want)
		}
	}
}
