package commands_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/server"
)

// TestRefusalsCounted: every refused command is counted once, under the
// reason of its error's code (or draining), at the gate every chat
// platform and train goes through; one that ran, or had nothing to do, is
// not.
func TestRefusalsCounted(t *testing.T) {
	f := newServiceFixture(t)
	reg := prometheus.NewRegistry()
	m := server.NewDeployMetrics(reg, func(ctx context.Context) (int, error) {
		l, err := f.store.Locks(ctx)
		return len(l), err
	}, slog.New(slog.DiscardHandler))
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy, Refusals: m})
	for _, tt := range []struct {
		name, user, text string
		drain            bool
		want             string // the reason counted; "": none
	}{
		{"deployed", "bob", "deploy web 1 to prod", false, ""},
		{"nothing to do", "bob", "deploy web 1 to prod", false, ""},
		{"unknown app", "bob", "deploy nosuch 1 to prod", false, "invalid"},
		{"no grant", "carl", "deploy web 2 to prod", false, "forbidden"},
		{"lock taken", "ana", "lock deploys web prod db maintenance", false, ""},
		{"locked", "bob", "deploy web 2 to prod", false, "conflict"},
		{"unlocked", "ana", "unlock deploys web prod", false, ""},
		{"draining", "bob", "deploy web 2 to prod", true, "draining"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.drain {
				f.eng.Drain()
			}
			before := map[string]float64{}
			for _, r := range commands.RefusalReasons {
				before[r] = refused(t, reg, r)
			}
			res, out, _ := f.do(tt.user, tt.text)
			for _, r := range commands.RefusalReasons {
				want := before[r]
				if r == tt.want {
					want++
				}
				if got := refused(t, reg, r); got != want {
					t.Errorf("%q (outcome %+v, replies %+v): switchman_commands_refused_total{reason=%q} got %v, want %v", tt.text, res, out.replies, r, got, want)
				}
			}
		})
	}
	if problems, err := testutil.GatherAndLint(reg, "switchman_commands_refused_total"); err != nil || len(problems) > 0 {
		t.Errorf("promlint: got %v %v, want none", problems, err)
	}
}

// TestAuditRefusalCounted: a request an adapter refused before Handle
// (its duplicate check failed, the bot was stopping) is counted once,
// under the bounded reason the adapter gave, like one Handle refused;
// one given no reason of RefusalReasons is counted as internal, never
// under its message.
func TestAuditRefusalCounted(t *testing.T) {
	f := newServiceFixture(t)
	reg := prometheus.NewRegistry()
	m := server.NewDeployMetrics(reg, func(ctx context.Context) (int, error) { return 0, nil }, slog.New(slog.DiscardHandler))
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy, Refusals: m})
	for _, tt := range []struct {
		name string
		why  commands.Refusal
		want string
	}{
		{"stopping", commands.RefusalDraining, "draining"},
		{"store down", commands.RefusalUnavailable, "unavailable"},
		{"no reason", "", "internal"},
		{"free text", "the store said no", "internal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := map[string]float64{}
			for _, r := range commands.RefusalReasons {
				before[r] = refused(t, reg, r)
			}
			err := f.svc.AuditRefusal(context.Background(), commands.Request{User: "bob", Platform: "slack", Channel: "C1",
				Text: "deploy web 1", Refused: "Switchman was stopping; nothing was run", RefusedFor: tt.why})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range commands.RefusalReasons {
				want := before[r]
				if r == tt.want {
					want++
				}
				if got := refused(t, reg, r); got != want {
					t.Errorf("switchman_commands_refused_total{reason=%q}: got %v, want %v", r, got, want)
				}
			}
		})
	}
	if problems, err := testutil.GatherAndLint(reg, "switchman_commands_refused_total"); err != nil || len(problems) > 0 {
		t.Errorf("promlint: got %v %v, want none", problems, err)
	}
}

// refused is the sample of reason in reg's
// switchman_commands_refused_total, which must be there from the start.
func refused(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "switchman_commands_refused_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			if s.GetLabel()[0].GetValue() == reason {
				return s.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("switchman_commands_refused_total{reason=%q}: not in the registry, want it from the start", reason)
	return 0
}
