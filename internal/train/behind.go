package train

import "fmt"

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
func (b behind) reason(tr *trainState, c Car) string {
	switch b {
	case envMoved:
		return fmt.Sprintf("it boarded for %s, and the train goes to %s now: board it again", c.Env, tr.cfg.Env)
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
		who, it := "it", "it"
		if len(cs) > 1 {
			who, it = "they", "them"
		}
		lines = append(lines, fmt.Sprintf("%s left behind: %s boarded for %s, and the train goes to %s now; board %s again",
			carList(cs), who, env, tr.cfg.Env, it))
	}
	return ship, lines
}
