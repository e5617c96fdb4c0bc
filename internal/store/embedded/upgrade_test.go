package embedded_test

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// rawValue edits, with the store closed, the value of key in bucket as
// another version's bot would have written it; get only reads it.
func rawValue(t *testing.T, path, bucket, key string, set func(old []byte) []byte) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v []byte
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		v = append([]byte(nil), b.Get([]byte(key))...)
		if set == nil {
			return nil
		}
		v = set(v)
		return b.Put([]byte(key), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// withMember returns the JSON object data with the member name set to raw.
func withMember(t *testing.T, data []byte, name, raw string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m[name] = json.RawMessage(raw)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// member returns the member name of the JSON object data.
func member(t *testing.T, data []byte, name string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return string(m[name])
}

// TestNewerMembersKept: a record, a lock and the cars of a train that a
// newer version wrote with members this one does not know keep them
// through this version's changes: a recovery marking the record
// interrupted, a lock passing to the bot, another car boarding and cars
// put back after a departure.
func TestNewerMembersKept(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "switchman.db")
	s := openStore(t, path, nil)
	rec := &deploy.Record{ID: "d1", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: time.Now().Add(-time.Minute).UTC(), Outcome: deploy.OutcomeRunning, Fence: 5,
		Hosts: []deploy.HostResult{{Host: "web-1", State: deploy.HostActivating, Current: "2", Switched: true}}}
	if err := s.PutRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	lock := deploy.Lock{App: "web", Env: "prod", Owner: "dave", Reason: "db move", Created: time.Now().UTC()}
	if err := s.PutLock(ctx, lock); err != nil {
		t.Fatal(err)
	}
	boarded := time.Date(2026, 6, 2, 11, 0, 0, 0, time.UTC)
	if _, err := s.Board(ctx, "daily", trainstore.Car{App: "accounting", Build: "7", Env: "prod", User: "ana", Boarded: boarded}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	rawValue(t, path, "records", "d1", func(old []byte) []byte {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(old, &m); err != nil {
			t.Fatal(err)
		}
		var hosts []json.RawMessage
		if err := json.Unmarshal(m["hosts"], &hosts); err != nil {
			t.Fatal(err)
		}
		hosts[0] = withMember(t, hosts[0], "drained", `"lb-1"`)
		h, _ := json.Marshal(hosts)
		return withMember(t, withMember(t, old, "hosts", string(h)), "approved_by", `["bo"]`)
	})
	rawValue(t, path, "locks", "web\x00prod", func(old []byte) []byte { return withMember(t, old, "ticket", `"OPS-12"`) })
	rawValue(t, path, "trains", "daily", func(old []byte) []byte {
		var cars []json.RawMessage
		if err := json.Unmarshal(old, &cars); err != nil {
			t.Fatal(err)
		}
		cars[0] = withMember(t, cars[0], "ticket", `"REL-3"`)
		out, _ := json.Marshal(cars)
		return out
	})

	s = openStore(t, path, nil)
	got, err := s.Record(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	got.Outcome, got.Finished, got.Fence = deploy.OutcomeInterrupted, time.Now().UTC(), 6
	got.Hosts[0].State = deploy.HostUnreachable
	if err := s.PutRecord(ctx, got); err != nil {
		t.Fatal(err)
	}
	locks, err := s.Locks(ctx)
	if err != nil || len(locks) != 1 {
		t.Fatalf("Locks: got %v, %v", locks, err)
	}
	next := locks[0]
	next.Owner = "switchman"
	if _, ok, err := s.ReplaceLock(ctx, &locks[0], next); err != nil || !ok {
		t.Fatalf("ReplaceLock: got %v, %v", ok, err)
	}
	if _, err := s.Board(ctx, "daily", trainstore.Car{App: "billing", Build: "9", Env: "prod", User: "bo", Boarded: boarded.Add(time.Minute)}, 0, nil); err != nil {
		t.Fatal(err)
	}
	// A file written before cars taken off were recorded has none to
	// read, and takes one.
	if off, err := s.TakenOff(ctx, "daily", "accounting"); err != nil || off.By != "" {
		t.Fatalf("TakenOff before any was recorded: got %+v, %v; want none", off, err)
	}
	left, err := s.Leave(ctx, "daily", "accounting", "ana", boarded.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if off, err := s.TakenOff(ctx, "daily", "accounting"); err != nil || off.By != "ana" || off.Car.Build != left.Build {
		t.Fatalf("TakenOff: got %+v, %v; want %s taken off by ana", off, err, left.Build)
	}
	if err := s.ReturnCars(ctx, "daily", []trainstore.Car{left}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r := rawValue(t, path, "records", "d1", nil)
	if got := member(t, r, "approved_by"); got != `["bo"]` {
		t.Errorf("record's approved_by: got %q, want %q (stored %s)", got, `["bo"]`, r)
	}
	if got := member(t, r, "outcome"); got != `"interrupted"` {
		t.Errorf("record's outcome: got %s, want \"interrupted\"", got)
	}
	var hosts []json.RawMessage
	if err := json.Unmarshal([]byte(member(t, r, "hosts")), &hosts); err != nil {
		t.Fatal(err)
	}
	if got := member(t, hosts[0], "drained"); got != `"lb-1"` {
		t.Errorf("host's drained: got %q, want %q (stored %s)", got, `"lb-1"`, r)
	}
	l := rawValue(t, path, "locks", "web\x00prod", nil)
	if got := member(t, l, "ticket"); got != `"OPS-12"` {
		t.Errorf("lock's ticket: got %q, want %q (stored %s)", got, `"OPS-12"`, l)
	}
	c := rawValue(t, path, "trains", "daily", nil)
	var cars []json.RawMessage
	if err := json.Unmarshal(c, &cars); err != nil || len(cars) != 2 {
		t.Fatalf("cars %s: %v", c, err)
	}
	if got := member(t, cars[0], "app"); got != `"accounting"` {
		t.Fatalf("first car: got %s, want accounting put back first (stored %s)", got, c)
	}
	if got := member(t, cars[0], "ticket"); got != `"REL-3"` {
		t.Errorf("car's ticket: got %q, want %q (stored %s)", got, `"REL-3"`, c)
	}
}

// oldTime encodes t as versions before StartDeparture stored a train's
// run: Unix seconds with the sign bit flipped, then nanoseconds, big-endian.
func oldTime(t time.Time) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return k
}

// TestOldDepartureRecordsRead: a file in which a version before
// StartDeparture recorded a train's departures, one record per kind, with
// Monday's departure and one sent off early newer than their ends, opens
// with both unended; Tuesday's, started and ended after, leaves them so.
func TestOldDepartureRecordsRead(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "switchman.db")
	fri := time.Date(2026, 5, 29, 12, 0, 0, 0, time.UTC)
	mon := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	early := time.Date(2026, 6, 1, 15, 4, 5, 6, time.UTC)
	made, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := made.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("train_runs"))
		if err != nil {
			return err
		}
		for k, at := range map[string]time.Time{
			trainstore.KindDeparture: mon, trainstore.KindEnded: fri,
			trainstore.KindEarly: early, trainstore.KindEarlyEnded: fri,
		} {
			if err := b.Put([]byte("daily\x00"+k), oldTime(at)); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	s := openStore(t, path, nil)
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
}

func assertUnendedIs(t *testing.T, s trainstore.Store, want ...trainstore.Departure) {
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
