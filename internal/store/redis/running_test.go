package redis

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// runningAt returns a record of accounting/production started i seconds
// after start, running if running is set, succeeded otherwise.
func runningAt(i int, running bool) *deploy.Record {
	r := &deploy.Record{ID: fmt.Sprintf("d%04d", i), App: "accounting", Env: "production",
		Started: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second), Outcome: deploy.OutcomeSucceeded}
	if running {
		r.Outcome = deploy.OutcomeRunning
	}
	return r
}

func openPrefix(t *testing.T, srv *redisserver.Server, prefix string) *Store {
	t.Helper()
	return openAt(t, srv, prefix, nil)
}

// openAt opens the store under prefix with the clock now (nil: the real
// one).
func openAt(t *testing.T, srv *redisserver.Server, prefix string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{URL: srv.URL(), Prefix: prefix, MaxClockSkew: -1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t *testing.T, s *Store, r *deploy.Record) {
	t.Helper()
	if err := s.PutRecord(t.Context(), r); err != nil {
		t.Fatalf("PutRecord %s: %v", r.ID, err)
	}
}

// listIDs returns the IDs Records returns for f.
func listIDs(t *testing.T, s *Store, f deploy.Filter) []string {
	t.Helper()
	recs, err := s.Records(t.Context(), f)
	if err != nil {
		t.Fatalf("Records(%+v): %v", f, err)
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

// runningIDs returns the IDs records:running names, newest first.
func runningIDs(t *testing.T, s *Store) []string {
	t.Helper()
	ms, err := s.client().ZRevRangeByLex(t.Context(), s.key("records", "running"), &goredis.ZRangeBy{Max: "+", Min: "-"}).Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		id, _, _ := strings.Cut(m[timeKeyLen:], "\x00")
		ids = append(ids, id)
	}
	return ids
}

var running = deploy.Filter{Outcome: deploy.OutcomeRunning}

// TestRunningIndexKept checks records:running itself after writes and a
// trim. Listings skip members that are not current, so one a write left
// behind would not show in them, only in what every listing costs.
func TestRunningIndexKept(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "kept:")
	for i := range 6 {
		mustPut(t, s, runningAt(i, i%2 == 0)) // d0000, d0002, d0004 running
	}
	if got, want := listIDs(t, s, running), []string{"d0004", "d0002", "d0000"}; !slices.Equal(got, want) {
		t.Fatalf("running records: got %v, want %v", got, want)
	}
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"finished", func() { mustPut(t, s, runningAt(2, false)) }, []string{"d0004", "d0000"}},
		{"written again", func() { mustPut(t, s, runningAt(4, true)) }, []string{"d0004", "d0000"}},
		{"started moved", func() {
			r := runningAt(0, true)
			r.Started = r.Started.Add(time.Hour)
			mustPut(t, s, r)
		}, []string{"d0000", "d0004"}},
		{"started moved and finished", func() {
			r := runningAt(4, false)
			r.Started = r.Started.Add(-time.Hour)
			mustPut(t, s, r)
		}, []string{"d0000"}},
		{"trimmed", func() {
			if _, err := s.TrimRecords(t.Context(), runningAt(100, false).Started, 0); err != nil {
				t.Fatal(err)
			}
		}, []string{"d0000"}},
	}
	for _, st := range steps {
		st.do()
		if got := runningIDs(t, s); !slices.Equal(got, st.want) {
			t.Errorf("%s: records:running names %v, want %v", st.name, got, st.want)
		}
		if got := listIDs(t, s, running); !slices.Equal(got, st.want) {
			t.Errorf("%s: running records: got %v, want %v", st.name, got, st.want)
		}
	}
}

// oldPutRecordScript is putRecordScript as it was before records:running:
// what a replica of an older version writes during an upgrade.
var oldPutRecordScript = goredis.NewScript(`
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and old ~= ARGV[3] then
  redis.call('ZREM', KEYS[3], old)
end
redis.call('ZADD', KEYS[3], 0, ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 0
`)

// oldPut writes r as a replica of an older version does.
func oldPut(t *testing.T, s *Store, r *deploy.Record) {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	member := timeKey(r.Started) + r.ID + "\x00" + r.App + "\x00" + r.Env + "\x00" + string(r.Outcome)
	keys := []string{s.key("records"), s.key("records", "member"), s.key("records", "index")}
	if err := oldPutRecordScript.Run(t.Context(), s.client(), keys, r.ID, data, member).Err(); err != nil {
		t.Fatalf("old put %s: %v", r.ID, err)
	}
}

// TestRunningIndexBuilt lists the running records of a store written by
// an older version: records:running is built on the first listing, and
// members an older writer left behind are not listed.
func TestRunningIndexBuilt(t *testing.T) {
	srv := redisserver.Start(t)
	n := 2*pageSize + 10
	isRunning := func(i int) bool { return i%100 == 7 }
	var runs []int // the running records, newest first
	for i := n - 1; i >= 0; i-- {
		if isRunning(i) {
			runs = append(runs, i)
		}
	}
	ids := func(is []int) []string {
		out := make([]string, len(is))
		for k, i := range is {
			out[k] = runningAt(i, true).ID
		}
		return out
	}
	want := ids(runs)
	// fill writes the records of a store from before records:running.
	fill := func(t *testing.T, s *Store) {
		t.Helper()
		for i := range n {
			oldPut(t, s, runningAt(i, isRunning(i)))
		}
	}
	built := func(t *testing.T, s *Store) bool {
		t.Helper()
		n, err := s.client().Exists(t.Context(), s.key("records", "running", "built")).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	t.Run("first listing", func(t *testing.T) {
		s := openPrefix(t, srv, "first:")
		fill(t, s)
		if built(t, s) {
			t.Fatal("marker set before any listing")
		}
		if got := listIDs(t, s, running); !slices.Equal(got, want) {
			t.Errorf("running records: got %v, want %v", got, want)
		}
		if !built(t, s) {
			t.Error("marker not set after a listing")
		}
		if got := runningIDs(t, s); !slices.Equal(got, want) {
			t.Errorf("records:running names %v, want %v", got, want)
		}
		f := deploy.Filter{App: "accounting", Env: "production", Outcome: deploy.OutcomeRunning, Limit: 2}
		if got := listIDs(t, s, f); !slices.Equal(got, want[:2]) {
			t.Errorf("Records(%+v): got %v, want %v", f, got, want[:2])
		}
	})

	t.Run("older writer", func(t *testing.T) {
		// The store's clock reads a minute after the older replica's
		// new record started.
		s := openAt(t, srv, "older:", func() time.Time { return runningAt(n, true).Started.Add(time.Minute) })
		fill(t, s)
		listIDs(t, s, running)
		// An older replica finishes the newest running record and starts
		// a new one.
		oldPut(t, s, runningAt(runs[0], false))
		oldPut(t, s, runningAt(n, true))
		wantNew := append([]string{runningAt(n, true).ID}, want[1:]...)
		if got := listIDs(t, s, running); !slices.Equal(got, wantNew) {
			t.Errorf("running records after an older writer: got %v, want %v", got, wantNew)
		}
		if got := runningIDs(t, s); !slices.Equal(got, wantNew) {
			t.Errorf("records:running after listing: names %v, want %v (the stale member dropped)", got, wantNew)
		}
	})

	// A marker set by a version before the watermark holds none: the
	// listing builds records:running again, with what an older writer
	// left out of it.
	t.Run("marker without watermark", func(t *testing.T) {
		s := openPrefix(t, srv, "nomark:")
		fill(t, s)
		listIDs(t, s, running)
		if err := s.client().Set(t.Context(), s.key("records", "running", "built"), "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		oldPut(t, s, runningAt(n, true))
		wantNew := append([]string{runningAt(n, true).ID}, want...)
		if got := listIDs(t, s, running); !slices.Equal(got, wantNew) {
			t.Errorf("running records: got %v, want %v", got, wantNew)
		}
		if !built(t, s) {
			t.Error("marker not set after a listing")
		}
	})

	// Replicas build records:running at once while records finish; none
	// lists a finished record, and the index keeps none.
	t.Run("replicas at once", func(t *testing.T) {
		first := openPrefix(t, srv, "once:")
		fill(t, first)
		stores := []*Store{first, openPrefix(t, srv, "once:"), openPrefix(t, srv, "once:")}
		finishing, rest := runs[:len(runs)/2], ids(runs[len(runs)/2:])
		var wg sync.WaitGroup
		errc := make(chan error, len(stores)+len(finishing))
		wg.Go(func() {
			for _, i := range finishing {
				errc <- first.PutRecord(t.Context(), runningAt(i, false))
			}
		})
		lists := make([][]*deploy.Record, len(stores)-1)
		for k, s := range stores[1:] {
			wg.Go(func() {
				var err error
				lists[k], err = s.Records(t.Context(), running)
				errc <- err
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		for k, got := range lists {
			for _, r := range got {
				if !slices.Contains(want, r.ID) {
					t.Errorf("replica %d listed %s, which never ran", k+1, r.ID)
				}
			}
		}
		for k, s := range stores {
			if got := listIDs(t, s, running); !slices.Equal(got, rest) {
				t.Errorf("replica %d, once done: got %v, want %v", k, got, rest)
			}
		}
		if got := runningIDs(t, first); !slices.Equal(got, rest) {
			t.Errorf("records:running names %v, want %v", got, rest)
		}
	})
}

// TestRunningPaging lists more running records than one script call
// examines, with filters and limits, in the order of the general listing.
func TestRunningPaging(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "paging:")
	n := 2*pageSize + 10
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	isRunning := func(i int) bool { return i%3 != 0 }
	app := func(i int) string {
		// "rare" only among the oldest records, so a filtered listing
		// walks pages without a match first.
		if i < 30 && i%4 == 1 {
			return "rare"
		}
		return "common"
	}
	for i := range n {
		// Two records per instant: ties go by ID, descending.
		r := &deploy.Record{ID: fmt.Sprintf("d%04d", i), App: app(i), Env: "production",
			Started: start.Add(time.Duration(i/2) * time.Second), Outcome: deploy.OutcomeSucceeded}
		if isRunning(i) {
			r.Outcome = deploy.OutcomeRunning
		}
		mustPut(t, s, r)
	}
	// expect returns the IDs of the running records for which keep holds,
	// newest first, at most limit (0: all).
	expect := func(keep func(i int) bool, limit int) []string {
		var ids []string
		for i := n - 1; i >= 0 && (limit == 0 || len(ids) < limit); i-- {
			if isRunning(i) && keep(i) {
				ids = append(ids, fmt.Sprintf("d%04d", i))
			}
		}
		return ids
	}
	all := func(int) bool { return true }
	rare := func(i int) bool { return app(i) == "rare" }
	for _, tc := range []struct {
		name string
		f    deploy.Filter
		want []string
	}{
		{"all", deploy.Filter{}, expect(all, 0)},
		{"limit over a page", deploy.Filter{Limit: pageSize + 3}, expect(all, pageSize+3)},
		{"filter", deploy.Filter{App: "rare"}, expect(rare, 0)},
		{"filter limit", deploy.Filter{App: "rare", Env: "production", Limit: 2}, expect(rare, 2)},
		{"no match", deploy.Filter{Env: "staging"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Outcome = deploy.OutcomeRunning
			if got := listIDs(t, s, tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("Records(%+v): got %d %v, want %d %v", tc.f, len(got), head(got), len(tc.want), head(tc.want))
			}
			// The general listing, filtering every entry, agrees.
			general, err := collect(tc.f.Limit, func(upper string, want int) (recordPage, error) {
				return s.recordsPage(t.Context(), tc.f, upper, want)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(general) != len(tc.want) {
				t.Errorf("general listing of %+v: got %d records, want %d", tc.f, len(general), len(tc.want))
			}
		})
	}
}

// TestRunningListingCost counts the script calls of listing the running
// records among more than a page of finished ones: one, however long the
// history. A count, not a time, so that a busy machine cannot fail it.
func TestRunningListingCost(t *testing.T) {
	srv := redisserver.Start(t)
	s := openPrefix(t, srv, "cost:")
	ctx := t.Context()
	n := 4 * pageSize
	for i := range n {
		mustPut(t, s, runningAt(i, i == 10 || i == n-10))
	}
	want := []string{runningAt(n-10, true).ID, runningAt(10, true).ID}
	listIDs(t, s, running) // builds records:running if it has to
	for _, f := range []deploy.Filter{
		running,
		{App: "accounting", Env: "production", Outcome: deploy.OutcomeRunning},
	} {
		if err := s.client().ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if got := listIDs(t, s, f); !slices.Equal(got, want) {
			t.Errorf("Records(%+v): got %v, want %v", f, got, want)
		}
		if calls := scriptCalls(t, s); calls != 1 {
			t.Errorf("Records(%+v) among %d records: %d script calls, want 1", f, n, calls)
		}
	}
}

// scriptCalls returns how many scripts Redis ran since its statistics
// were reset: EVALSHA calls that found their script, and EVAL calls.
func scriptCalls(t *testing.T, s *Store) int {
	t.Helper()
	info, err := s.client().Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cmd := range []string{"cmdstat_evalsha", "cmdstat_eval"} {
		stats := map[string]int{}
		for kv := range strings.SplitSeq(infoField(info, cmd), ",") {
			k, v, _ := strings.Cut(kv, "=")
			stats[k], _ = strconv.Atoi(v)
		}
		n += stats["calls"] - stats["failed_calls"]
	}
	return n
}

// TestRecordWrittenBetweenPages rewrites a record between the first and
// the second page Records reads, so that its new index entry is met again
// in the second page. It is listed once, and a limit still counts records.
func TestRecordWrittenBetweenPages(t *testing.T) {
	srv := redisserver.Start(t)
	const older = 5 // records below the first page
	n := pageSize + older
	for _, tc := range []struct {
		name string
		// at is the record rewritten, runningAt(at): n-1 is the first
		// entry of the first page and older its last.
		at      int
		running bool
		rewrite func(*deploy.Record)
		limit   int
	}{
		{name: "finished", at: older, running: true, rewrite: func(r *deploy.Record) { r.Outcome = deploy.OutcomeFailed }},
		{name: "finished limit", at: older, running: true, rewrite: func(r *deploy.Record) { r.Outcome = deploy.OutcomeFailed }, limit: n},
		{name: "started earlier", at: n - 1, rewrite: func(r *deploy.Record) { r.Started = r.Started.Add(-time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openPrefix(t, srv, "between-"+strings.ReplaceAll(tc.name, " ", "-")+":")
			ctx := t.Context()
			for i := range n {
				mustPut(t, s, runningAt(i, i == tc.at && tc.running))
			}
			id := runningAt(tc.at, false).ID
			var pagesWith []int // the pages read holding id
			reads := 0
			read := func(upper string, want int) (recordPage, error) {
				p, err := s.recordsPage(ctx, deploy.Filter{}, upper, want)
				reads++
				for _, data := range p.items {
					if strings.Contains(data, `"id":"`+id+`"`) {
						pagesWith = append(pagesWith, reads)
					}
				}
				if reads == 1 {
					r := runningAt(tc.at, tc.running)
					tc.rewrite(r)
					mustPut(t, s, r)
				}
				return p, err
			}
			recs, err := collect(tc.limit, read)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pagesWith, []int{1, 2}) {
				t.Fatalf("pages holding %s: got %v, want [1 2] (the test did not exercise a record met twice)", id, pagesWith)
			}
			seen := map[string]bool{}
			for _, r := range recs {
				if seen[r.ID] {
					t.Errorf("%s listed twice", r.ID)
				}
				seen[r.ID] = true
			}
			if len(seen) != n {
				t.Errorf("records listed: got %d distinct, want %d", len(seen), n)
			}
		})
	}
}
