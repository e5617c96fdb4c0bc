package cluster

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/store/embedded"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOneLeaderAtATime(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &Leader{Leases: st, ID: "a", TTL: 300 * time.Millisecond}
	b := &Leader{Leases: st, ID: "b", TTL: 300 * time.Millisecond}
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { a.Run(ctxA); close(doneA) }()
	waitFor(t, "a to lead", a.IsLeader)
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	go b.Run(ctxB)
	// b keeps trying for a while; a keeps the lease by renewing it.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if a.IsLeader() == b.IsLeader() {
			t.Fatalf("leaders: a=%v b=%v, want exactly one", a.IsLeader(), b.IsLeader())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// a stops (and releases): b takes over.
	stopA()
	<-doneA
	waitFor(t, "b to take over", b.IsLeader)
	if a.IsLeader() {
		t.Error("a still leads after it stopped")
	}
}
