package train_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/train"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

const trainYAML = `users: {ana: {}, bob: {}, carl: {}}
admins: [ana]
deployers: [bob]
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'echo "$SWITCHMAN_APP $SWITCHMAN_BUILD" >> ../order.log'
    health: {command: 'test ! -e current/BROKEN', timeout: 1s, interval: 50ms}
    environments: {production: {hosts: [localhost]}}
  api:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/api
    restart: 'echo "$SWITCHMAN_APP $SWITCHMAN_BUILD" >> ../order.log'
    health: {command: 'test ! -e current/BROKEN', timeout: 1s, interval: 50ms}
    environments: {production: {hosts: [localhost]}}
  billing:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/billing
    restart: 'echo "$SWITCHMAN_APP $SWITCHMAN_BUILD" >> ../order.log'
    environments: {production: {hosts: [localhost]}}
trains:
  daily:
    env: production
    channels: ["#releases"]
    boarding: "0 10 * * 1-5"
    departure: "0 14 * * 1-5"
`

type channel struct {
	mu   sync.Mutex
	msgs []string
}

func (c *channel) Post(_ context.Context, ch string, m chat.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, ch+": "+chat.Text(m))
	return nil
}

func tgz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	for n, b := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write([]byte(b))
	}
	tw.Close()
	gw.Close()
	return buf.Bytes()
}

// A departure through the real command service and engine: cars ship in
// boarding order as their boarders, a failing car is reverted and leaves,
// a locked app waits for the next train, a user without the grant is
// refused at boarding.
func TestDepartureThroughTheService(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(trainYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	arts := filepath.Join(dir, "artifacts")
	os.MkdirAll(arts, 0o755)
	os.WriteFile(filepath.Join(arts, "web-7.tar.gz"), tgz(t, map[string]string{"BUILD": "7"}), 0o644)
	os.WriteFile(filepath.Join(arts, "api-3.tar.gz"), tgz(t, map[string]string{"BUILD": "3", "BROKEN": "x"}), 0o644)
	os.WriteFile(filepath.Join(arts, "billing-5.tar.gz"), tgz(t, map[string]string{"BUILD": "5"}), 0o644)
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st})
	defer eng.Wait()
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy})
	out := &channel{}
	sched, err := train.New(train.Options{Config: cfg, Store: st, Runner: svc, Notifier: out, Gate: svc, Builds: train.ConfigBuilds{Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetTrains(sched)
	ctx := context.Background()
	say := func(user, text string) commands.Outcome {
		return svc.Handle(ctx, commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, nopOut{})
	}
	for _, c := range []struct {
		user, text string
		failed     bool
	}{
		{"carl", "train board web 7", true}, // no train grant
		{"bob", "train board web 404", true},
		{"bob", "train board nope 1", true},
		{"bob", "train board web 7", false},
		{"ana", "train board api 3", false},
		{"bob", "train board billing 5", false},
		{"ana", "lock deploys billing production waiting for the DBA", false},
		{"carl", "train depart daily now", true},
	} {
		if got := say(c.user, c.text); got.Failed != c.failed {
			t.Errorf("%s %q: got failed=%v, want %v", c.user, c.text, got.Failed, c.failed)
		}
	}
	sum := sched.Depart(ctx, "daily", "")
	var shipped, failed, postponed []string
	for _, r := range sum.Shipped {
		shipped = append(shipped, r.Car.App)
	}
	for _, r := range sum.Failed {
		failed = append(failed, r.Car.App+" "+string(r.Outcome))
	}
	for _, r := range sum.Postponed {
		postponed = append(postponed, r.Car.App)
	}
	if strings.Join(shipped, ",") != "web" || strings.Join(failed, ",") != "api reverted" || strings.Join(postponed, ",") != "billing" {
		t.Errorf("departure: shipped %v, failed %v, postponed %v; want [web], [api reverted], [billing]", shipped, failed, postponed)
	}
	order, _ := os.ReadFile(filepath.Join(dir, "srv/order.log"))
	// web first, then api (its restart, then the revert had no earlier release to restart).
	if lines := strings.Split(strings.TrimSpace(string(order)), "\n"); len(lines) < 2 || lines[0] != "web 7" || lines[1] != "api 3" {
		t.Errorf("deploy order: got %q, want web 7 then api 3", order)
	}
	if cur, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); cur != "releases/7" {
		t.Errorf("web current: got %q", cur)
	}
	recs, _ := st.Records(ctx, deploy.Filter{App: "web"})
	if len(recs) != 1 || recs[0].Requester != "bob" {
		t.Errorf("web deploy record: got %+v, want one by bob", recs)
	}
	cars, _ := st.Cars(ctx, "daily")
	if len(cars) != 1 || cars[0].App != "billing" {
		t.Errorf("aboard for the next train: got %+v, want billing", cars)
	}
	out.mu.Lock()
	all := strings.Join(out.msgs, "\n")
	out.mu.Unlock()
	for _, want := range []string{"1 shipped, 1 failed, 1 moves to the next train", "waiting for the DBA"} {
		if !strings.Contains(all, want) {
			t.Errorf("channel lacks %q:\n%s", want, all)
		}
	}
}

type nopOut struct{}

func (nopOut) Reply(chat.Message)    {}
func (nopOut) Progress(deploy.Event) {}
