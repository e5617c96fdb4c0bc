package commands

import "testing"

// TestTrainLeaveOfAppNamedAsAWord: with an app named "on", "train leave on on
// daily", quoted app or not, was refused as "on" written twice, so that
// the train leave the bot offers for a car of that app did not parse. The
// app is the word in the app's place; the "on" after it is the keyword.
// "train leave on on", with no train after it, is still "on" written
// twice. Likewise `train leave "daily" on daily`, offered for a car of an
// app the config no longer has, named as a train, was refused as the
// train named first.
func TestTrainLeaveOfAppNamedAsAWord(t *testing.T) {
	cat := testCat()
	cat.envs["on"] = []string{"production"}
	for _, tt := range []struct {
		in, app, train string
		gone, appGone  bool
	}{
		{in: `train leave "daily" on daily`, app: "daily", train: "daily", appGone: true},
		{in: "train leave on on daily", app: "on", train: "daily"},
		{in: `train leave "on" on daily`, app: "on", train: "daily"},
		{in: `train leave on on "nightly"`, app: "on", train: "nightly", gone: true},
		{in: `train leave "on" on "nightly"`, app: "on", train: "nightly", gone: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, cat, Options{})
			if got.Kind != Run {
				t.Fatalf("Parse(%q): got %v %q, want a run", tt.in, got.Kind, got.Reply)
			}
			if c := got.Cmd; c.TrainAction != TrainLeave || c.App != tt.app || c.Train != tt.train || c.TrainGone != tt.gone || c.AppGone != tt.appGone {
				t.Errorf("Parse(%q): got action %q app %q train %q gone %v app gone %v, want leave %s %s gone %v app gone %v", tt.in, c.TrainAction, c.App, c.Train, c.TrainGone, c.AppGone, tt.app, tt.train, tt.gone, tt.appGone)
			}
		})
	}
	if got := Parse("train leave on on", cat, Options{}); got.Kind != Reply {
		t.Errorf(`Parse("train leave on on"): got %v, want a reply saying "on" is written twice`, got.Kind)
	}
}
