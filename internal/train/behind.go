package train

import (
	"fmt"
	"strings"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// behind is why a car aboard can never ship: the config no longer has
// what it boarded for. A departure leaves such a car behind at its turn,
// and every post listing the cars says so beforehand.
type behind int

const (
	shipsAboard behind = iota // nothing the car boarded for is gone
	appGone                   // its app is no longer in the config
	envGone                   // its app no longer has the env it boarded for
	envMoved                  // the train no longer goes to the env it boarded for
)

// behindOf says whether car c of train tr is left behind, and why. A car
// boarded for an env the train no longer goes to is told to board again
// whether or not its app still has that env: boarding again is what it
// takes, for the env the train goes to now.
func (s *Scheduler) behindOf(tr *trainState, c Car) behind {
	a, ok := s.cfg.App(c.App)
	if !ok {
		return appGone
	}
	if c.Env != tr.cfg.Env {
		return envMoved
	}
	if _, ok := a.Env(c.Env); !ok {
		return envGone
	}
	return shipsAboard
}

// reason is what the summary and the audit log say of car c of train tr,
// left behind.
func (s *Scheduler) reason(b behind, tr *trainState, c Car) string {
	switch b {
	case envMoved:
		return fmt.Sprintf("it boarded for %s, and the train goes to %s now%s", c.Env, tr.cfg.Env, s.boardAgain(tr, []Car{c}))
	case envGone:
		return fmt.Sprintf("it was left behind: the env %s of the app %s is no longer configured", c.Env, c.App)
	}
	return fmt.Sprintf("it was left behind: the app %s is no longer configured", c.App)
}

// splitBehind returns the cars of train tr that can ship, and one line
// per reason naming those left behind ("shop 7 (@bob) left behind: its
// app is no longer configured"), unpunctuated for the caller to end.
// The lines say what the departure will say of each car.
func (s *Scheduler) splitBehind(tr *trainState, cars []Car) (ship []Car, lines []string) {
	var apps, envs []Car
	// moved holds the cars boarded for an env the train no longer goes
	// to, by that env, in the order the envs first come aboard.
	var movedEnvs []string
	moved := map[string][]Car{}
	for _, c := range cars {
		switch s.behindOf(tr, c) {
		case appGone:
			apps = append(apps, c)
		case envGone:
			envs = append(envs, c)
		case envMoved:
			if moved[c.Env] == nil {
				movedEnvs = append(movedEnvs, c.Env)
			}
			moved[c.Env] = append(moved[c.Env], c)
		default:
			ship = append(ship, c)
		}
	}
	if len(apps) > 0 {
		whose := "its app is"
		if len(apps) > 1 {
			whose = "their apps are"
		}
		lines = append(lines, fmt.Sprintf("%s left behind: %s no longer configured", carList(apps), whose))
	}
	if len(envs) > 0 {
		whose := "its app's env " + envs[0].Env + " is"
		if len(envs) > 1 {
			whose = "their apps' env " + envs[0].Env + " is"
		}
		lines = append(lines, fmt.Sprintf("%s left behind: %s no longer configured", carList(envs), whose))
	}
	for _, env := range movedEnvs {
		cs := moved[env]
		who := "it"
		if len(cs) > 1 {
			who = "they"
		}
		lines = append(lines, fmt.Sprintf("%s left behind: %s boarded for %s, and the train goes to %s now%s",
			carList(cs), who, env, tr.cfg.Env, s.boardAgain(tr, cs)))
	}
	return ship, lines
}

// boardAgain tells how cars, boarded for an env train tr no longer goes
// to, board it again: the train board of each, with its app and build,
// marked as suggested, as the parser reads it back. A car whose app has
// no env where the train goes now cannot board it, and is said so, with
// no command that would be refused.
func (s *Scheduler) boardAgain(tr *trainState, cars []Car) string {
	var cmds, cannot []string
	for _, c := range cars {
		if a, ok := s.cfg.App(c.App); ok {
			if _, ok := a.Env(tr.cfg.Env); ok {
				cmds = append(cmds, boardCommand(c, tr.name))
				continue
			}
		}
		cannot = append(cannot, c.App)
	}
	var out string
	switch {
	case len(cmds) == 1 && len(cars) == 1:
		out = "; board it again: " + cmds[0]
	case len(cmds) > 0:
		out = "; to board again: " + strings.Join(cmds, ", ")
	}
	switch {
	case len(cannot) == 1:
		out += fmt.Sprintf("; %s has no env %s, so it cannot board this train", cannot[0], tr.cfg.Env)
	case len(cannot) > 1:
		out += fmt.Sprintf("; %s have no env %s, so they cannot board this train", strings.Join(cannot, ", "), tr.cfg.Env)
	}
	return out
}

// boardCommand is the train board that boards car c on train again, with
// its app and build, marked as suggested, as the parser reads it back.
// It boards the car as whoever sends it.
func boardCommand(c Car, train string) string {
	// A build spelt as a keyword is quoted, as the parser would
	// otherwise read it as one.
	build := c.Build
	if strings.EqualFold(build, "to") || strings.EqualFold(build, "on") {
		build = `"` + build + `"`
	}
	return suggest.Command(fmt.Sprintf("train board %s %s on %s", c.App, build, train))
}
