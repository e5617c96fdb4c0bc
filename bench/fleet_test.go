package bench

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// BenchmarkFleet measures Switchman deploying to N real OpenSSH hosts, push
// and pull, gzip and zstd, against the floor measured in the same run. It
// ignores b.N: the whole matrix runs once and a Markdown table is printed.
//
//	make bench-fleet
//	BENCH_HOSTS=1,10 BENCH_RUNS=1 make bench-fleet
func BenchmarkFleet(b *testing.B) {
	onlyWhenNamed(b, "Fleet", "bench-fleet")
	k := readKnobs(b, "50")
	started := time.Now()
	e := newEnv(b, k)
	comps := []string{gz, zst}
	sets := e.artifacts(k.Sizes, comps)

	deploys := &table{head: []string{"hosts", "size MB", "compression", "delivery", "runs", "deploy s", "× floor", "CPU s", "host CPU s", "peak RSS MB", "tree PSS MB", "sent MB", "rollback s"}}
	floors := &table{head: []string{"hosts", "size MB", "compression", "(a) local tar -x s", "(b) ssh cat s", "(c) ssh tar -x s", "(c) runs", "(c) CPU s", "(c) host CPU s"}}
	var notes []string // skipped cells, hung runs
	for _, n := range k.Hosts {
		for _, mb := range k.Sizes {
			set := sets[mb]
			if !e.fits(n, set) {
				notes = append(notes, e.skipNote(n, set))
				continue
			}
			for _, comp := range comps {
				art := set.get("2", comp)
				cell := fmt.Sprintf("N=%d %dMB %s", n, mb, comp)
				fl, runs := e.floors(cell, art, n, k)
				floor := fl[floorUnpack]
				floors.add(strconv.Itoa(n), mbCell(art.Bytes), comp, secs(fl[floorLocal].Wall), secs(fl[floorStream].Wall), secs(floor.Wall), strconv.Itoa(runs), secs(floor.CPU), secs(floor.HostCPU))
				for _, delivery := range []string{"push", "pull"} {
					label := cell + " switchman " + delivery
					s := e.newSwitchman(fmt.Sprintf("n%d-%dmb-%s-%s", n, mb, comp, delivery), n, set, comp, delivery)
					r := e.runTool(label, s, n, set, k, false, projection{})
					if r.Repeated != "" {
						notes = append(notes, repeatNote(label, r, k))
					}
					d, rb := median(r.Deploys), median(r.Rollbacks)
					deploys.add(strconv.Itoa(n), mbCell(art.Bytes), comp, delivery, strconv.Itoa(len(r.Deploys)), secs(d.Wall), ratio(d.Wall, floor.Wall),
						secs(d.CPU), secs(d.HostCPU), mbCell(d.MaxRSS), mbCell(d.PeakPSS), mbCell(art.Bytes*int64(n)), secs(rb.Wall))
				}
			}
		}
	}
	fmt.Printf("\n## Switchman deploying to a fleet\n\n%s\n\n", e.summary(k, started))
	fmt.Print(deploys.String())
	fmt.Print(note(
		"deploy: `bot console` running `deploy app 2` with build 1 current (seeded) and no releases/2 on any host; parallel = batch_size = hosts.",
		"× floor: deploy time over floor (c) below. CPU: the bot process. Host CPU: everything on the hosts (sshd, shells, tar, sha256sum, curl).",
		"peak RSS: the bot's peak resident set; tree PSS: the bot's proportional set size, sampled every 100 ms.",
		"sent: artifact bytes × hosts (pull: served by the local HTTP server). rollback: `rollback app` from 2 to 1.",
		"runs: the median of that many runs is shown, per column.",
	))
	if len(notes) > 0 {
		fmt.Print(note(notes...))
	}
	fmt.Println()
	fmt.Print(floors.String())
	fmt.Print(note(
		"The floor, measured in the same run with the same artifact and hosts. (a) `tar -x` of the artifact N times on this machine,",
		"one per CPU at a time, once; (b) `ssh host 'cat >/dev/null' < artifact` to every host, one per CPU at a time, once;",
		"(c) `ssh host 'tar -x -C /srv/floor' < artifact` to all N hosts at once (the CPUs bound it): transfer and unpack, no checks,",
		"no switch, no restart. (c) is the floor of the ratios. OpenSSH client with aes128-gcm, the cipher Switchman's client negotiates first.",
	))
}
