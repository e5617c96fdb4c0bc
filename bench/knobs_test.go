package bench

import (
	"flag"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// knobs are the benchmark's settings from the environment.
type knobs struct {
	Hosts []int // BENCH_HOSTS
	Sizes []int // BENCH_SIZES, in MB
	// Runs (BENCH_RUNS) is the most measured runs of a tool in a cell; the
	// median is reported.
	Runs int
	// CellTime (BENCH_CELL_SECONDS) cuts the runs short: no new run of a
	// tool starts once its runs in the cell have taken that long, so that
	// the slow cells (50 hosts, Ansible) fit the time budget. Every tool
	// runs at least once; the tables say how many runs each row had.
	CellTime time.Duration
	// Timeout (BENCH_TIMEOUT_SECONDS) bounds every measured command. A
	// run whose command outlives it is killed and run once more from
	// freshly seeded hosts (a Capistrano deploy was seen to wait forever
	// on one of its 50 connections); the table says so.
	Timeout time.Duration
	// Tools (BENCH_TOOLS), when set, names the only tools to run, by the
	// start of their names in the tables: "ansible,switchman".
	Tools []string
	// Profile (BENCH_PROFILE), when set, is a directory that receives a
	// CPU and an allocation profile of every measured Switchman command
	// (bot -cpuprofile/-memprofile), named after its row and run.
	Profile string
}

// wants reports whether the tool of a table row is to run.
func (k knobs) wants(name string) bool {
	if len(k.Tools) == 0 {
		return true
	}
	for _, t := range k.Tools {
		if strings.HasPrefix(name, t) {
			return true
		}
	}
	return false
}

func readKnobs(b *testing.B, defaultSizes string) knobs {
	b.Helper()
	list := func(name, def string) []int {
		v := os.Getenv(name)
		if v == "" {
			v = def
		}
		var out []int
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("%s=%q: want a comma-separated list of positive integers", name, v)
			}
			out = append(out, n)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	num := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	var tools []string
	for _, t := range strings.Split(os.Getenv("BENCH_TOOLS"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tools = append(tools, t)
		}
	}
	return knobs{
		Tools:    tools,
		Profile:  os.Getenv("BENCH_PROFILE"),
		Hosts:    list("BENCH_HOSTS", "1,10,50"),
		Sizes:    list("BENCH_SIZES", defaultSizes),
		Runs:     num("BENCH_RUNS", 5),
		CellTime: time.Duration(num("BENCH_CELL_SECONDS", 30)) * time.Second,
		Timeout:  time.Duration(num("BENCH_TIMEOUT_SECONDS", 120)) * time.Second,
	}
}

// more reports whether a tool that has done runs runs, which took spent,
// gets another one.
func (k knobs) more(runs int, spent time.Duration) bool {
	return runs == 0 || runs < k.Runs && spent < k.CellTime
}

// onlyWhenNamed skips the benchmark unless -bench names it: `make bench`
// runs -bench . over every package with the default timeout, which these
// long benchmarks would exceed.
func onlyWhenNamed(b *testing.B, name, target string) {
	b.Helper()
	f := flag.Lookup("test.bench")
	if f == nil || !strings.Contains(f.Value.String(), name) {
		b.Skipf("runs only when -bench names it: make %s", target)
	}
}
