package commands

import (
	"slices"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTrainRepliesMarkWhatTheyOffer: a reply to a train command that
// offers the command to send instead marks it as the bot's suggestion,
// exactly it, and only when it is whole: sent, it does what the reply
// means. They were plain text; the which-train reply to a quoted app no
// longer in the config offered it unquoted, which is refused as a typo.
// One with a placeholder ("train depart TRAIN now") marks nothing. The
// which-train reply to a board that named its env offered the board
// without it, which boards the car for the app's default env.
func TestTrainRepliesMarkWhatTheyOffer(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		cmd  Command // what each command marked parses to
	}{
		{in: "train depart daily", want: []string{"train depart daily now"}, cmd: Command{TrainAction: TrainDepart, Train: "daily"}},
		{in: "train depart on daily now", want: []string{"train depart daily now"}, cmd: Command{TrainAction: TrainDepart, Train: "daily"}},
		{in: "train depart now daily", want: []string{"train depart daily now"}, cmd: Command{TrainAction: TrainDepart, Train: "daily"}},
		{in: "train depart daily today", want: []string{"train depart daily now"}, cmd: Command{TrainAction: TrainDepart, Train: "daily"}},
		{in: "train depart now", want: []string{"train depart daily now"}, cmd: Command{TrainAction: TrainDepart, Train: "daily"}},
		{in: "train depart"},
		{in: "train board accounting 1 to staging", want: []string{"train board accounting 1 to staging on daily"},
			cmd: Command{TrainAction: TrainBoard, App: "accounting", Build: "1", Env: "staging", Train: "daily"}},
		{in: "train board accounting 1 to production", want: []string{"train board accounting 1 to production on daily"},
			cmd: Command{TrainAction: TrainBoard, App: "accounting", Build: "1", Env: "production", Train: "daily"}},
		{in: "train board accounting 1", want: []string{"train board accounting 1 on daily"},
			cmd: Command{TrainAction: TrainBoard, App: "accounting", Build: "1", Train: "daily"}},
		{in: "train leave demo", want: []string{"train leave demo on daily"}, cmd: Command{TrainAction: TrainLeave, App: "demo", Train: "daily"}},
		{in: `train leave "shop"`, want: []string{`train leave "shop" on daily`},
			cmd: Command{TrainAction: TrainLeave, App: "shop", Train: "daily", AppGone: true}},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply {
				t.Fatalf("Parse(%q): got kind %v, want a reply", tt.in, got.Kind)
			}
			var marked []string
			suggest.Rewrite(got.Reply, func(cmd string) string {
				marked = append(marked, cmd)
				return cmd
			})
			if !slices.Equal(marked, tt.want) {
				t.Fatalf("Parse(%q): commands marked in %q: got %q, want %q", tt.in, got.Reply, marked, tt.want)
			}
			for _, cmd := range marked {
				res := Parse(cmd, testCat(), Options{})
				c := res.Cmd
				if res.Kind != Run || c.Verb != VerbTrain || c.TrainAction != tt.cmd.TrainAction || c.Train != tt.cmd.Train ||
					c.App != tt.cmd.App || c.Build != tt.cmd.Build || c.Env != tt.cmd.Env || c.AppGone != tt.cmd.AppGone {
					t.Errorf("%q parses as %v %+v (%q), want to run %+v", cmd, res.Kind, c, res.Reply, tt.cmd)
				}
			}
		})
	}
}
