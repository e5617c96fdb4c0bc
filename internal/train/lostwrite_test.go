package train_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/train"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// pausedWrites is a Redis train store paused while it runs a command's
// write: the write reaches Redis, its replies are lost once the client's
// read timeouts run out, and Redis runs it as it is resumed, as one whose
// connection dropped after Redis took it.
type pausedWrites struct {
	*redis.Store
	srv *redisserver.Server
}

func (s *pausedWrites) pause() (resume func()) {
	s.srv.Pause()
	return s.srv.Resume
}

func (s *pausedWrites) Board(ctx context.Context, name string, car train.Car, maxCars int, counts func(train.Car) bool) (*train.Car, error) {
	defer s.pause()()
	return s.Store.Board(ctx, name, car, maxCars, counts)
}

func (s *pausedWrites) Leave(ctx context.Context, name, app, by string, at time.Time) (train.Car, error) {
	defer s.pause()()
	return s.Store.Leave(ctx, name, app, by, at)
}

func (s *pausedWrites) MarkRun(ctx context.Context, name, kind string, at time.Time) error {
	defer s.pause()()
	return s.Store.MarkRun(ctx, name, kind, at)
}

func (s *pausedWrites) MarkCancel(ctx context.Context, name string, c train.Cancellation) error {
	defer s.pause()()
	return s.Store.MarkCancel(ctx, name, c)
}

// TestWriteReplyLost: a train command whose write Redis took, but whose
// reply was lost, is not reported as having changed nothing: the car is
// aboard, or gone, or the departure cancelled. It says that whether it
// took effect is not known, and where to look.
func TestWriteReplyLost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		aboard  bool // web is aboard before the command
		command func(ctx context.Context, s *train.Scheduler) error
		want    string
		// written reports whether the command's write is in st.
		written func(ctx context.Context, st *redis.Store) bool
	}{
		{
			name: "board",
			command: func(ctx context.Context, s *train.Scheduler) error {
				_, err := s.Board(ctx, "alice", "daily", "web", "7", "")
				return err
			},
			want: "whether web 7 boarded the daily train is not known (state store unreachable): " + suggest.Command("train") + " lists who is aboard",
			written: func(ctx context.Context, st *redis.Store) bool {
				cars, err := st.Cars(ctx, "daily")
				return err == nil && len(cars) == 1 && cars[0].App == "web"
			},
		},
		{
			name: "leave", aboard: true,
			command: func(ctx context.Context, s *train.Scheduler) error {
				_, err := s.Leave(ctx, "alice", "daily", "web")
				return err
			},
			want: "whether web left the daily train is not known (state store unreachable): " + suggest.Command("train") + " lists who is aboard",
			written: func(ctx context.Context, st *redis.Store) bool {
				cars, err := st.Cars(ctx, "daily")
				return err == nil && len(cars) == 0
			},
		},
		{
			name: "cancel",
			command: func(ctx context.Context, s *train.Scheduler) error {
				_, err := s.Cancel(ctx, "ana", "daily", "release freeze")
				return err
			},
			want: " train to production was cancelled is not known (state store unreachable): " + suggest.Command("train") + " marks it cancelled if it was, which its channels were not told; the same cancel, sent again, tells them",
			written: func(ctx context.Context, st *redis.Store) bool {
				at, err := st.LastRun(ctx, "daily", train.KindCancel)
				return err == nil && !at.IsZero()
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			srv, st, cfg, board := leasedTrainWith(t, redis.Options{ReadTimeout: 200 * time.Millisecond})
			if tc.aboard {
				board("web")
			}
			s, err := train.New(train.Options{Config: cfg, Store: &pausedWrites{Store: st, srv: srv}, Runner: &countingRunner{}, Notifier: &posts{}, Audit: st})
			if err != nil {
				t.Fatal(err)
			}
			err = tc.command(ctx, s)
			if msg := errs.Message(err); !strings.Contains(msg, tc.want) || strings.Contains(msg, "nothing was changed") || errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("got %v (message %q, code %s); want code %s and a message with %q, not saying nothing was changed",
					err, msg, errs.CodeOf(err), errs.Unavailable, tc.want)
			}
			for deadline := time.Now().Add(10 * time.Second); !tc.written(ctx, st); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("its write is not in the store; want it there (Redis ran the write whose reply was lost)")
				}
			}
		})
	}
}

// TestWriteReplyLostIsAudited: through the command service, a boarding
// whose reply was lost is in the audit log as of unknown outcome, with the
// reason its reply gives: not refused, which would say nothing changed.
func TestWriteReplyLostIsAudited(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(trainYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := redisserver.Start(t)
	st, err := redis.Open(ctx, redis.Options{URL: srv.URL(), ReadTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st})
	t.Cleanup(eng.Wait)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy})
	sched, err := train.New(train.Options{Config: cfg, Store: &pausedWrites{Store: st, srv: srv}, Runner: svc, Notifier: &channel{}, Audit: st})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetTrains(sched)

	res := svc.Handle(ctx, commands.Request{User: "bob", Platform: "test", Channel: "#releases", Text: "train board web 7"}, nopOut{})
	// The audit log keeps the words, without the marks of a suggestion.
	const want = "whether web 7 boarded the daily train is not known (state store unreachable): train lists who is aboard"
	entries, err := st.Audit(ctx, audit.Query{Limit: 1})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit: got %+v, %v; want the boarding's entry", entries, err)
	}
	if e := entries[0]; !res.Failed || e.Decision != audit.Unknown || e.Reason != want {
		t.Errorf("boarding: failed %v, audit entry %s, %q; want unknown, %q", res.Failed, e.Decision, e.Reason, want)
	}
}

// TestCancelReplyLostAnnouncedOnRepeat: a cancel whose write Redis took,
// but whose reply was lost, is not announced; the cancel said again finds
// it cancelled and announces it then, once, with who cancelled it and
// why, whoever says it again and with whatever reason. It used to answer
// that it was already cancelled, and the train's channels never heard of
// it; then it announced the repeat's user and reason.
func TestCancelReplyLostAnnouncedOnRepeat(t *testing.T) {
	ctx := t.Context()
	srv, st, cfg, _ := leasedTrainWith(t, redis.Options{ReadTimeout: 200 * time.Millisecond})
	out := &channel{}
	lost, err := train.New(train.Options{Config: cfg, Store: &pausedWrites{Store: st, srv: srv}, Runner: &countingRunner{}, Notifier: out, Audit: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lost.Cancel(ctx, "ana", "daily", "release freeze"); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("first cancel: got %v; want its reply lost", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if at, err := st.LastRun(ctx, "daily", train.KindCancel); err == nil && !at.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancellation is not in the store; want it there (Redis ran the write whose reply was lost)")
		}
	}
	if n := len(out.all()); n != 0 {
		t.Fatalf("first cancel: %d posts; want none", n)
	}
	s, err := train.New(train.Options{Config: cfg, Store: st, Runner: &countingRunner{}, Notifier: out, Audit: st})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Cancel(ctx, "carl", "daily", "said again")
	if err != nil || !strings.Contains(m.Title, "was already cancelled; announced in the train's channels now") {
		t.Errorf("repeat: got %q, %v; want it announced now", m.Title, err)
	}
	if want := "by @ana: release freeze"; !strings.Contains(chat.Text(m), want) {
		t.Errorf("repeat: replied %q; want it to name the cancel announced, %q", chat.Text(m), want)
	}
	if posted := out.all(); len(posted) != 1 || !strings.Contains(posted[0], "is cancelled by @ana: release freeze") || strings.Contains(posted[0], "said again") {
		t.Errorf("repeat: posted %q; want the first cancellation announced once, by @ana: release freeze", posted)
	}
	_, err = s.Cancel(ctx, "ana", "daily", "release freeze")
	if errs.CodeOf(err) != errs.NoChange || !strings.Contains(errs.Message(err), "is already cancelled") {
		t.Errorf("third: got %v; want already cancelled", err)
	}
	if n := len(out.all()); n != 1 {
		t.Errorf("third: %d posts in all; want 1", n)
	}
}
