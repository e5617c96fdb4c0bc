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
)

// behindOf says whether car c of train tr is left behind, and why. A car
// boarded for an env the train no longer goes to is not: it is told to
// board again, which a removed env of its app does not change.
func (s *Scheduler) behindOf(tr *trainState, c Car) behind {
	a, ok := s.cfg.App(c.App)
	if !ok {
		return appGone
	}
	if _, ok := a.Env(c.Env); !ok && c.Env == tr.cfg.Env {
		return envGone
	}
	return shipsAboard
}

// reason is what the summary and the audit log say of car c, left behind.
func (b behind) reason(c Car) string {
	if b == envGone {
		return fmt.Sprintf("it was left behind: the env %s of the app %s is no longer configured", c.Env, c.App)
	}
	return fmt.Sprintf("it was left behind: the app %s is no longer configured", c.App)
}

// splitBehind returns the cars of train tr that can ship, and one line
// per reason naming those left behind ("shop 7 (@bob) left behind: its
// app is no longer configured"), unpunctuated for the caller to end.
func (s *Scheduler) splitBehind(tr *trainState, cars []Car) (ship []Car, lines []string) {
	var apps, envs []Car
	for _, c := range cars {
		switch s.behindOf(tr, c) {
		case appGone:
			apps = append(apps, c)
		case envGone:
			envs = append(envs, c)
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
	return ship, lines
}
