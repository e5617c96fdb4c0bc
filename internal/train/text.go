package train

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// boardHint tells people how to board: as typed, which Slack and the
// console take, and unmarked, as its APP and BUILD are to be filled in,
// not sent as they are (see suggest).
const boardHint = "train board APP BUILD"

// boardingMessage is the boarding announcement of a train with cars
// aboard that ship, and left, one line per reason, naming those left
// behind (splitBehind).
func boardingMessage(label string, cars []Car, left []string) chat.Message {
	m := chat.Message{Level: chat.Info, Public: true, Lines: behindLines(left)}
	switch {
	case len(cars) > 0:
		m.Title = fmt.Sprintf("🚂 The %s is boarding: %s. Board with %s.", label, carList(cars), boardHint)
	case len(left) > 0:
		m.Title = fmt.Sprintf("🚂 The %s is boarding. No car aboard can leave with it yet: %s.", label, boardHint)
	default:
		m.Title = fmt.Sprintf("🚂 The %s is boarding. Nobody is aboard yet: %s.", label, boardHint)
	}
	return m
}

// reminderMessage is the reminder announcement, as boardingMessage.
func reminderMessage(label string, in time.Duration, cars []Car, left []string) chat.Message {
	m := chat.Message{Level: chat.Info, Public: true, Lines: behindLines(left)}
	switch {
	case len(cars) > 0:
		m.Title = fmt.Sprintf("⏰ The %s leaves in %s: %s.", label, humanDuration(in), carList(cars))
	case len(left) > 0:
		m.Title = fmt.Sprintf("⏰ The %s leaves in %s. No car aboard can leave with it yet: %s.", label, humanDuration(in), boardHint)
	default:
		m.Title = fmt.Sprintf("⏰ The %s leaves in %s. Nobody is aboard yet: %s.", label, humanDuration(in), boardHint)
	}
	return m
}

// behindLines ends the lines of splitBehind for an announcement.
func behindLines(left []string) []string {
	var lines []string
	for _, l := range left {
		lines = append(lines, l+".")
	}
	return lines
}

// unreadMessage is the boarding or reminder announcement (kind) of a
// train whose cars could not be read, why.
func unreadMessage(kind, label string, in time.Duration, why string) chat.Message {
	m := chat.Message{Level: chat.Info, Public: true,
		Lines: []string{fmt.Sprintf("Who is aboard could not be read (%s): %s lists the cars.", why, suggest.Command("train"))}}
	if kind == KindBoarding {
		m.Title = fmt.Sprintf("🚂 The %s is boarding. Board with %s.", label, boardHint)
		return m
	}
	m.Title = fmt.Sprintf("⏰ The %s leaves in %s.", label, humanDuration(in))
	return m
}

// carList renders cars for people: "accounting 1338 (@alice), billing 77 (@bob)".
func carList(cars []Car) string {
	parts := make([]string, len(cars))
	for i, c := range cars {
		parts[i] = carName(c)
	}
	return strings.Join(parts, ", ")
}

// stayAboard is the line saying that cars stay aboard for the next
// departure, next: "web 2 (@ana) stays aboard for the next one, …", with
// the verb agreeing with the number of cars.
func stayAboard(cars []Car, next string) string {
	verb := "stay"
	if len(cars) == 1 {
		verb = "stays"
	}
	return fmt.Sprintf("%s %s aboard for the next one, %s.", carList(cars), verb, next)
}

func carName(c Car) string {
	return fmt.Sprintf("%s %s (@%s)", c.App, c.Build, c.User)
}

// clock is t's time of day, "14:00".
func clock(t time.Time) string { return t.Format("15:04") }

// stamp is t in loc for people, seen at ref: "Tue 2 Jun 14:00 CEST", with
// the year when t is not in ref's year there ("Tue 29 Feb 2028 14:00
// CET"): a yearly or leap-day departure years away would otherwise read
// as one of this year.
func stamp(t, ref time.Time, loc *time.Location) string {
	lt := t.In(loc)
	if lt.Year() != ref.In(loc).Year() {
		return lt.Format("Mon 2 Jan 2006 15:04 MST")
	}
	return lt.Format("Mon 2 Jan 15:04 MST")
}

// humanDuration renders d rounded to the minute: "15 minutes", "1 hour",
// "2 hours 30 minutes".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case h == 0:
		return unit(m, "minute")
	case m == 0:
		return unit(h, "hour")
	default:
		return unit(h, "hour") + " " + unit(m, "minute")
	}
}

// spoken renders a configured duration for people: in whole minutes as
// humanDuration does ("15 minutes", "1 hour"), else as the config would
// write it ("90s" is "1m30s"), which no rounding misstates.
func spoken(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return humanDuration(d)
	}
	return d.String()
}

// count renders n things: "1 car", "3 cars".
func count(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}
