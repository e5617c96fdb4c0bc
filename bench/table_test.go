package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// median returns the median of each field of samples, taken separately.
func median(samples []sample) sample {
	if len(samples) == 0 {
		return sample{}
	}
	pick := func(get func(sample) int64) int64 {
		v := make([]int64, len(samples))
		for i, s := range samples {
			v[i] = get(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return sample{
		Wall:    time.Duration(pick(func(s sample) int64 { return int64(s.Wall) })),
		CPU:     time.Duration(pick(func(s sample) int64 { return int64(s.CPU) })),
		HostCPU: time.Duration(pick(func(s sample) int64 { return int64(s.HostCPU) })),
		MaxRSS:  pick(func(s sample) int64 { return s.MaxRSS }),
		PeakPSS: pick(func(s sample) int64 { return s.PeakPSS }),
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// table renders a Markdown table.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	width := make([]int, len(t.head))
	right := make([]bool, len(t.head)) // numbers, aligned right
	for i, h := range t.head {
		width[i] = max(len([]rune(h)), 3)
		right[i] = true
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
			if c != "" && !numeric(c) {
				right[i] = false
			}
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if right[i] {
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		b.WriteString("\n")
	}
	line(t.head)
	b.WriteString("|")
	for i := range t.head {
		if right[i] {
			b.WriteString(" " + strings.Repeat("-", width[i]-1) + ": |")
		} else {
			b.WriteString(" " + strings.Repeat("-", width[i]) + " |")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

// numeric reports whether s is a number, "–", or a bound ("> 120.00").
func numeric(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimPrefix(s, "> "), 64)
	return err == nil || s == "–"
}
