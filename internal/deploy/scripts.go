package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact"
	"github.com/switchman-bot/switchman/internal/shell"
)

// The host layout, the same on every host and every transport:
//
//	PATH/releases/<build>/      one unpacked release each
//	PATH/releases/.tmp-<build>-<nonce>/  a release being unpacked
//	PATH/.current-<nonce>       a link being renamed over `current`
//	PATH/releases/.bad-<build>  marker: this release failed; rollbacks skip it
//	PATH/current -> releases/<build>
//	PATH/previous -> releases/<build>
//	PATH/shared/                paths linked into every release
//
// Every script below is built from constant text and values quoted by
// shell.Quote; build ids are validated by the parser and again by the engine.

// hostState is what the inspect script reports about one host.
type hostState struct {
	Current  string // build `current` points at, "" if none
	Previous string // build `previous` points at, "" if none
	// CurrentDangling is whether `current` is a link to a release that
	// is gone (Current is then ""), CurrentGone that release's name, ""
	// when the link's target is no build id.
	CurrentDangling bool
	CurrentGone     string
	// PreviousDangling and PreviousGone are the same of `previous`.
	PreviousDangling bool
	PreviousGone     string
	Releases         []string // builds on disk, newest first
	Bad              map[string]bool
	// Zstd is whether the host has zstd: push delivery may then send a
	// gzip artifact as zstd.
	Zstd bool
	// ZstdSync is whether the host's zstd takes --no-asyncio (1.5.4 and
	// later), known only when inspectScript probed for it.
	ZstdSync bool
	// Disk is the free space of the file system of the deploy
	// directory, when the inspection asked for it.
	Disk diskSpace
	// Partial is whether releases/ holds a temporary unpack directory,
	// left by a delivery that was cut short, or the deploy directory a
	// temporary link (.current-*, .previous-*), left by a switch cut
	// short: prune removes them once they are old.
	Partial bool
}

// needsPrune reports whether pruning after build was installed and
// switched to can remove anything: a partial release, or a release that
// pruneScript counts past keep. It counts as that script does, newest
// first with build the newest when it is new: a good release by its place
// among the good ones, a bad one by its place among all, so that releases
// marked bad never hold a good one out of keep, and a host whose only
// extra releases are within that count gets no session that removes
// nothing. build (then current), the release current before it (then
// previous, or still current) and target are never removed, so they count
// as no reason to prune.
func (s hostState) needsPrune(build, target string, keep int) bool {
	if s.Partial {
		return true
	}
	order := s.Releases
	if !s.has(build) {
		order = append([]string{build}, order...)
	}
	n, good := 0, 0
	for _, r := range order {
		n++
		place := n
		if !s.Bad[r] {
			good++
			place = good
		}
		if place > keep && r != build && r != s.Current && r != target {
			return true
		}
	}
	return false
}

func (s hostState) has(build string) bool {
	for _, r := range s.Releases {
		if r == build {
			return true
		}
	}
	return false
}

// inspectScript prints the host's releases without changing anything.
// Links are resolved with cd -P, a builtin, rather than a readlink
// process each (about a millisecond of the host's CPU apiece), and
// releases are listed without ls (see newestFirst). A link whose release
// is gone is reported as dangling, with the name of the release it
// points at (a readlink, a process, only then), not as that release, so
// that a deploy of the release restores it rather than finding it
// current, and status says the link points at a release that is gone.
// Of a link it prints the release's name, not its path: the deploy
// directory's path may hold a line break, which would end the line
// early. A release whose name holds one is no build id, and is left
// out: its lines would read as others. With probe, it also asks zstd its
// version (see unpackScript): a process, so only for a push delivery.
// With disk, it also reads the free space of dir's file system (see
// spaceScript): a process too, so only before a deploy delivers.
func inspectScript(dir string, probe, disk bool) string {
	zstd := "echo zstd=yes"
	if probe {
		zstd = `echo "zstd=$(zstd -V 2>/dev/null)"`
	}
	space := ""
	if disk {
		space = spaceScript(dir)
	}
	return fmt.Sprintf(`if command -v zstd >/dev/null 2>&1; then %s; fi
%scd %s 2>/dev/null || exit 0
here=$PWD nl='
'
for l in current previous; do
	if cd -P "./$l" 2>/dev/null; then
		r=${PWD##*/}
		case $r in *"$nl"*) r= ;; esac
		printf '%%s=%%s\n' "$l" "$r"
		cd "$here"
	elif [ -L "$l" ]; then
		t=$(readlink "$l" 2>/dev/null); t=${t%%/}; t=${t##*/}
		case $t in *"$nl"*) t= ;; esac
		printf 'dangling=%%s %%s\n' "$l" "$t"
	fi
done
for l in .current-* .previous-*; do
	if [ -L "$l" ]; then echo partial=yes; break; fi
done
[ -d releases ] || exit 0
cd releases
%s
set -- .tmp-*
[ -e "$1" ] && echo partial=yes
exit 0
`, zstd, space, shell.Quote(dir), newestFirst(`		case $r in *"$nl"*) ;; *) if [ -e ".bad-$r" ]; then printf 'bad=%s\n' "$r"; else printf 'release=%s\n' "$r"; fi ;; esac`))
}

// newestFirst returns a loop that runs body once per directory of the
// current directory, newest (by mtime) first, with the name in $r, as
// `for r in $(ls -1t)` would, but with builtins only where there are few:
// an ls costs a host a fork and an exec, 5 ms of its CPU at 50 hosts on
// two cores, in every deploy and rollback. Each round picks the newest of
// the positional parameters with test -nt, runs body, and drops it from
// them, keeping the others in order: names of equal mtime come in the
// glob's (name) order. The rounds cost the square of the count: with 5
// releases the inspect script took 1.9 ms of CPU against ls's 7 ms, with
// 40 about as much as with ls, so beyond newestFirstMax directories ls
// sorts them. body must not use continue or break, nor change $x or the
// positional parameters.
func newestFirst(body string) string {
	return fmt.Sprintf(`set --
for x in *; do [ -d "$x" ] && set -- "$@" "$x"; done
if [ $# -gt %d ]; then
	for r in $(ls -1t); do
		[ -d "$r" ] || continue
%[2]s
	done
else
	while [ $# -gt 0 ]; do
		r=$1
		for x; do [ "$x" -nt "$r" ] && r=$x; done
%[2]s
		for x; do shift; [ "$x" = "$r" ] || set -- "$@" "$x"; done
	done
fi`, newestFirstMax, body)
}

// newestFirstMax is how many releases newestFirst sorts with builtins.
const newestFirstMax = 24

// parseInspect reads what inspectScript printed. A release whose name is
// no build id (made on the host by hand, or by whoever can write there) is
// left out, as if it were not there: it becomes no rollback target, and
// its name reaches neither a script nor a chat message.
func parseInspect(out []byte) hostState {
	st := hostState{Bad: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var df, dfi, dfo []string
	inDF, inDFI, inDFO := false, false, false
	for sc.Scan() {
		// What df printed, between the markers of spaceScript, is
		// read as df's, not as the script's own lines.
		if inDFO {
			if status, ok := strings.CutPrefix(sc.Text(), "dfo>"); ok {
				if d, ran := parseOutput(dfo, status); ran {
					st.Disk = d
				}
				inDFO = false
			} else {
				dfo = append(dfo, sc.Text())
			}
			continue
		}
		if inDF {
			if status, ok := strings.CutPrefix(sc.Text(), "df>"); ok {
				st.Disk, inDF = parseSpace(df, status), false
			} else {
				df = append(df, sc.Text())
			}
			continue
		}
		if inDFI {
			if status, ok := strings.CutPrefix(sc.Text(), "dfi>"); ok {
				st.Disk.FreeInodes, st.Disk.Inodes = parseInodes(dfi, status)
				inDFI = false
			} else {
				dfi = append(dfi, sc.Text())
			}
			continue
		}
		switch sc.Text() {
		case "dfo<":
			inDFO, dfo = true, nil
			continue
		case "df<":
			inDF, df = true, nil
			continue
		case "dfi<":
			inDFI, dfi = true, nil
			continue
		}
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if k == "release" || k == "bad" {
			if !ValidBuild(v) {
				continue
			}
		}
		switch k {
		case "current":
			st.Current = releaseName(v)
		case "previous":
			st.Previous = releaseName(v)
		case "dangling":
			link, target, _ := strings.Cut(v, " ")
			switch link {
			case "current":
				st.CurrentDangling, st.CurrentGone = true, releaseName(target)
			case "previous":
				st.PreviousDangling, st.PreviousGone = true, releaseName(target)
			}
		case "release":
			st.Releases = append(st.Releases, v)
		case "bad":
			st.Releases = append(st.Releases, v)
			st.Bad[v] = true
		case "zstd":
			st.Zstd = true
			st.ZstdSync = zstdTakesNoAsyncio(v)
		case "partial":
			st.Partial = v == "yes"
		}
	}
	if inDF {
		// The output ended before df's status: the check fails closed.
		st.Disk = diskSpace{Checked: true, Err: "the inspection's output ended inside df's"}
	}
	return st
}

// zstdVersion finds the version in what `zstd -V` prints, such as
// "*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***".
var zstdVersion = regexp.MustCompile(`v(\d+)\.(\d+)\.(\d+)`)

// zstdTakesNoAsyncio reports whether the zstd that printed version has
// --no-asyncio: 1.5.4, the first release with asynchronous I/O, and
// later. An older zstd refuses the option.
func zstdTakesNoAsyncio(version string) bool {
	m := zstdVersion.FindStringSubmatch(version)
	if m == nil {
		return false
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return slices.Compare(v[:], []int{1, 5, 4}) >= 0
}

// releaseName turns a link target "releases/42" into "42".
func releaseName(target string) string {
	target = strings.TrimSpace(target)
	if target == "" {
		return ""
	}
	if name := path.Base(target); ValidBuild(name) {
		return name
	}
	return ""
}

// unpackScript reads a tarball on stdin into a temporary directory. Nothing
// appears under releases/<build> until finalizeScript runs, after the bot
// has verified the stream. tmp carries a fresh nonce, so it is new.
//
// The decompressor runs in a pipeline of its own rather than as `tar -z`:
// reading an archive from a pipe, GNU tar forks a process that copies it
// into the decompressor, which costs the host about a quarter more CPU. A
// pipeline's status is its last command's, so the decompressor's own is
// passed out on descriptor 3 (taken with ||: under set -e a failed
// decompressor would end its side of the pipeline before the echo).
//
// The script reports on standard output for the bot to pace the stream
// (see unpackReport): "+" as tar starts, then, from GNU tar, a dot each
// paceRecords records read. The options go through TAR_OPTIONS, which
// only GNU tar reads: another tar unpacks silently and the bot stops
// pacing that host. They also give GNU tar records of tarRecord bytes
// rather than its default 10 KiB: reading the decompressor's pipe 10 KiB
// at a time wakes both processes six times as often, and the pipeline
// took a host a fifth more CPU for a 5 MB artifact (25 ms against 20 ms).
//
// A zstd that has asynchronous I/O (1.5.4 and later) gets --no-asyncio
// (sync): its reader and writer threads cost more CPU than they save in a
// pipe on a busy host, and a multi-threaded process's unmaps interrupt
// the other CPUs. On a small VM the pipeline took 15 ms less of a host's
// CPU per 5 MB artifact without them.
func unpackScript(dir, tmp, compression string, sync bool) string {
	dec := "gzip -dc"
	if compression == "zstd" {
		dec = "zstd -dcq"
		if sync {
			dec += " --no-asyncio"
		}
	}
	return fmt.Sprintf(`set -e
mkdir -p %[1]s/%[2]s %[1]s/shared
cd %[1]s
exec 4>&1
printf +
rc=$( { { st=0; %[3]s || st=$?; echo $st >&3; } | TAR_OPTIONS="--blocking-factor=%[5]d --checkpoint=%[4]d --checkpoint-action=dot ${TAR_OPTIONS-}" tar -x --no-same-owner -f - -C %[2]s >&4; } 3>&1 )
[ "$rc" = 0 ] || { echo "%[3]s failed (status $rc): the stream is not a valid archive" >&2; exit 1; }
`, shell.Quote(dir), shell.Quote(tmp), dec, paceRecords, tarRecord/512)
}

// tarRecord is the size of the records GNU tar reads in unpackScript
// (--blocking-factor, in blocks of 512 bytes), the unit of --checkpoint:
// a pipe's 64 KiB.
const tarRecord = 128 * 512

// paceRecords is how often, in records read, GNU tar reports: every
// 128 KiB, half the smallest window the bot paces a host by.
const paceRecords = 2

// unpackReport reads the standard output of unpackScript into r's pace.
type unpackReport struct {
	r    *fanReader
	dots int64
}

func (u *unpackReport) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '+') >= 0 {
		u.r.started()
	}
	if n := bytes.Count(p, []byte{'.'}); n > 0 {
		u.dots += int64(n)
		u.r.report(u.dots * paceRecords * tarRecord)
	}
	return len(p), nil
}

// pullScript has a host download the artifact from url (curl, or wget),
// check it against sum when there is one, and unpack it into tmp. The
// downloader reads url on standard input, not in its arguments, which
// anyone on the host can read (ps, /proc): the URL may carry a token.
// BusyBox's wget reads no URL list: with it alone, the URL is an argument.
// From an https URL, only curl or a GNU wget that checks certificates and
// keeps credentials from other servers downloads (see gnuWgetForHTTPS),
// and neither follows a redirect to plain http (httpsOnly; GNU wget
// follows none).
// It holds no line break (the config refuses control characters). The
// checksum is computed with openssl where the host has it: it uses the
// CPU's SHA instructions, several times faster than coreutils' sha256sum
// on large artifacts. Directories are made by one mkdir, and what exists
// is tested with builtins: each process started costs a host a few ms of
// CPU on a small VM, on every host of every deploy. GNU tar reads the
// decompressor it starts in records of tarRecord, as in unpackScript.
// A download that receives nothing for idle fails (the downloader's two
// retries may wait that long again), as the bot's own reads of the artifact
// server do, instead of holding the deploy until step_timeout: curl and
// GNU wget bound it; BusyBox's wget has no such option.
//
// size is the length of the artifact the bot verified. A download is cut
// off soon past size bytes by the shell's file size limit, which binds
// every downloader, whatever the server says of the length: a wrong or
// hostile URL could otherwise fill the host's disk. The limit counts
// blocks of 512 bytes (1024 under bash not started as sh, still a bound),
// so what was written is then counted: more than size fails, and a
// shorter download fails its checksum. The downloader ignores
// SIGXFSZ and fails with a write error instead: a shell that reports a
// child killed by a signal may print its command, here-document and all,
// and with it the URL. The downloader's errors are held until then, so
// that a download cut off says why on its first line, the one status
// shows, not the write error that followed.
func pullScript(dir, tmp, url, sum, compression string, size int64, idle time.Duration) string {
	flag := "-z"
	if compression == "zstd" {
		flag = "--zstd"
	}
	dl := tmp + ".download"
	if idle <= 0 {
		idle = artifact.DefaultIdleTimeout
	}
	secs := max(1, int((idle+time.Second-1)/time.Second))
	var gnuWget, busyBoxWget, wgetNoFollow, wgetRedirect string
	if isHTTPS(url) {
		// GNU wget follows a redirect from https to plain http, which
		// would send the URL's token in the clear, and no option keeps it
		// on https (--https-only binds recursive downloads only): from an
		// https URL it follows no redirect at all.
		gnuWget, busyBoxWget, wgetNoFollow, wgetRedirect = gnuWgetForHTTPS, busyBoxWgetForHTTPS, " --max-redirect=0", wgetNoRedirect
	}
	return fmt.Sprintf(`set -e
[ -d %[1]s ] || mkdir -p %[1]s
cd %[1]s
if [ -e %[2]s ] || [ -e %[3]s ]; then rm -rf %[2]s %[3]s; fi
mkdir -p releases shared %[2]s
st=0
if command -v curl >/dev/null 2>&1; then
	e=$( ( trap '' XFSZ && ulimit -f %[13]d && exec curl -fsSL --retry 2 --connect-timeout %[10]d --speed-limit 1 --speed-time %[10]d -o %[3]s -K - 2>&1 ) <<'SWITCHMAN_URL_END'
url = %[8]s%[11]s
SWITCHMAN_URL_END
) || st=$?
elif command -v wget >/dev/null 2>&1; then
	if wget --help 2>&1 | grep -q -e --input-file; then
%[14]s		e=$( ( trap '' XFSZ && ulimit -f %[13]d && exec wget -q%[16]s --timeout=%[10]d --tries=3 -O %[3]s -i - 2>&1 ) <<'SWITCHMAN_URL_END'
%[9]s
SWITCHMAN_URL_END
) || st=$?
%[17]s	else
%[15]s		e=$( ( trap '' XFSZ && ulimit -f %[13]d && exec wget -q -O %[3]s %[4]s 2>&1 ) ) || st=$?
	fi
else
	echo "neither curl nor wget is installed on this host" >&2; exit 127
fi
n=0
if [ -f %[3]s ]; then n=$(($(wc -c < %[3]s))); fi
if [ "$n" -gt %[12]d ]; then
	echo "the download is larger than the %[12]d bytes of the build the bot verified (cut off at $n bytes): artifact.url serves something else; nothing was kept" >&2
	rm -rf %[2]s %[3]s; exit 1
fi
[ -z "$e" ] || printf '%%s\n' "$e" >&2
[ "$st" = 0 ] || exit "$st"
if [ -n %[5]s ]; then
	if command -v openssl >/dev/null 2>&1; then
		got=$(openssl dgst -sha256 -r %[3]s) || { echo "cannot compute the checksum of the download" >&2; exit 1; }
	else
		got=$(sha256sum %[3]s) || { echo "cannot compute the checksum of the download" >&2; exit 1; }
	fi
	[ "${got%%%% *}" = %[5]s ] || { echo "checksum mismatch: the download is not the build the bot verified" >&2; rm -f %[3]s; exit 1; }
fi
TAR_OPTIONS="--blocking-factor=%[7]d ${TAR_OPTIONS-}" tar -x %[6]s --no-same-owner -f %[3]s -C %[2]s
rm -f %[3]s
`, shell.Quote(dir), shell.Quote(tmp), shell.Quote(dl), shell.Quote(url), shell.Quote(sum), flag, tarRecord/512, curlQuote(url), url, secs, httpsOnly(url), size, size/512+1, gnuWget, busyBoxWget, wgetNoFollow, wgetRedirect)
}

// gnuWgetForHTTPS refuses, for an https URL, a GNU wget older than
// 1.21.2, which sends the Authorization header made from the URL's
// credentials on to the server a redirect points to (CVE-2021-31879), or
// one whose version it cannot read (Wget2 among them): the project fails
// closed. The version is read with builtins from wget --version's first
// line, "GNU Wget 1.21.3 built on linux-gnu.".
const gnuWgetForHTTPS = `		w=$(wget --version 2>/dev/null) || w=
		w=${w%%"
"*}
		v=${w#"GNU Wget "}
		v=${v%%[!0-9.]*}
		IFS=. read -r wv1 wv2 wv3 wvr <<SWITCHMAN_WGET_VERSION || :
$v
SWITCHMAN_WGET_VERSION
		if [ $(( ${wv1:-0} * 1000000 + ${wv2:-0} * 1000 + ${wv3:-0} )) -lt 1021002 ]; then
			echo "this host has no curl, and its wget (\"$w\") may send the URL's credentials on to another server on a redirect (CVE-2021-31879): install curl on this host to download from an https artifact.url (or GNU Wget 1.21.2 or later)" >&2; exit 1
		fi
`

// wgetNoRedirect says, for an https URL, why GNU wget failed with the
// status it has for an error answer or a redirect it did not follow
// (8), where -q leaves it silent.
const wgetNoRedirect = `		[ "$st" != 8 ] || [ -n "$e" ] || e="the artifact server answered with an error, or with a redirect, which this host's wget does not follow from an https artifact.url (it could lead to plain http and send the URL in the clear): install curl on this host if artifact.url redirects"
`

// busyBoxWgetForHTTPS refuses, for an https URL, BusyBox's wget (the one
// without --input-file), which may not check the server's certificate:
// its own TLS code checks none, and anyone on the path could serve the
// host a build and read the URL's token.
const busyBoxWgetForHTTPS = `		echo "this host has no curl, and its wget is BusyBox's, which may not check the artifact server's TLS certificate: install curl on this host to download from an https artifact.url" >&2; exit 1
`

// isHTTPS tells an https URL.
func isHTTPS(url string) bool {
	return len(url) >= 8 && strings.EqualFold(url[:8], "https://")
}

// httpsOnly is the curl config line that keeps a download from an https
// URL on https through redirects, as the bot's own fetch is kept (see
// artifact.Source): a redirect to plain http would send the URL's token
// in the clear to anyone on the host's path. The checksum still guards
// the bytes; this guards the token. GNU wget, which has no such option,
// follows no redirect from an https URL (see pullScript); BusyBox's wget
// is refused from one (busyBoxWgetForHTTPS).
func httpsOnly(url string) string {
	if isHTTPS(url) {
		return "\nproto-redir = \"=https\""
	}
	return ""
}

// curlQuote writes s as a double-quoted value of a curl config file.
func curlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// diskScript prints, with df -P, the free space and the free inodes of
// the file system holding dir; it prints nothing where df cannot (a
// BusyBox df without -i prints the first part only).
func diskScript(dir string) string {
	return fmt.Sprintf("( cd %s && df -P -k . && df -P -i . ) 2>/dev/null\n", shell.Quote(dir))
}

// diskFull reads what diskScript printed and says, for people, whether
// the file system holding dir was out of space or of inodes then, or ""
// when it was not or cannot tell. A file system that counts no inodes
// (btrfs says 0 of 0) has not run out of them.
func diskFull(out []byte, dir string) string {
	var inodes bool
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if f[0] == "Filesystem" {
			inodes = f[1] == "Inodes"
			continue
		}
		total, err1 := strconv.ParseInt(f[1], 10, 64)
		free, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil || total <= 0 || free > 0 {
			continue
		}
		if inodes {
			return fmt.Sprintf("the file system holding %s has no free inodes left (no new file can be made there): free some, then deploy again", dir)
		}
		return fmt.Sprintf("the file system holding %s is full (no space left): free some, then deploy again", dir)
	}
	return ""
}

// discardScript removes a temporary release after a failed delivery.
func discardScript(dir, tmp string) string {
	return fmt.Sprintf("cd %s && rm -rf %s %s\n", shell.Quote(dir), shell.Quote(tmp), shell.Quote(tmp+".download"))
}

// finalizeScript links the shared paths into the unpacked release and
// renames it into place, so releases/<build> only ever names a complete
// release.
func finalizeScript(dir, tmp, build string, shared []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\ncd %s\n", shell.Quote(dir))
	for _, p := range shared {
		in := tmp + "/" + p
		sh := "shared/" + p
		// A shared path missing from shared/ is seeded from the release
		// (a default config file); otherwise it starts as an empty dir.
		fmt.Fprintf(&b, `if [ ! -e %[2]s ]; then
	mkdir -p %[3]s
	if [ -e %[1]s ]; then mv %[1]s %[2]s; else mkdir -p %[2]s; fi
fi
if [ -e %[1]s ] || [ -L %[1]s ]; then rm -rf %[1]s; fi
[ -d %[4]s ] || mkdir -p %[4]s
ln -s %[5]s %[1]s
`, shell.Quote(in), shell.Quote(sh), shell.Quote(path.Dir(sh)), shell.Quote(path.Dir(in)), shell.Quote(path.Join(dir, sh)))
	}
	// A release's age is its directory's mtime (prune and rollbacks sort
	// by it), which tar set from the archive's "./" entry: the same for
	// every build of a reproducible build. Installing sets it to now.
	final := "releases/" + build
	fmt.Fprintf(&b, `if [ -d %[2]s ]; then rm -rf %[1]s; else touch -c %[1]s && mv -T %[1]s %[2]s; fi
`, shell.Quote(tmp), shell.Quote(final))
	return b.String()
}

// switchScript points current at build atomically (a new link under a
// temporary name renamed over the old one: there is never a moment without
// `current`), records the release it replaced as `previous`, clears build's
// bad marker and, when retire is set, marks that release bad (a rollback
// leaving it). It runs on every host of every deploy and rollback, so it
// starts no process it can do without: markers are made by redirection,
// and `previous` is replaced by one ln -sfn, which GNU ln does atomically
// as well (a temporary link renamed over it); where another ln leaves a
// moment without `previous`, a rollback in that moment picks the newest
// good release instead. With no previous (a host's first release, or a
// switch back to a release that had none before it), a `previous` link
// left from the switch being undone is removed: it would name the
// release `current` names.
func switchScript(dir, build, previous, retire, nonce string) string {
	mark := ""
	if retire != "" {
		mark = ": >>" + shell.Quote("releases/.bad-"+retire) + "\n"
	}
	return fmt.Sprintf(`set -e
cd %[1]s
test -d %[2]s
ln -s %[2]s .current-%[3]s
mv -T .current-%[3]s current || { s=$?; rm -f .current-%[3]s; exit $s; }
if [ -n %[4]s ]; then ln -sfn %[4]s previous; elif [ -L previous ]; then rm -f previous; fi
if [ -e releases/.bad-%[5]s ]; then rm -f releases/.bad-%[5]s; fi
%[6]s`, shell.Quote(dir), shell.Quote("releases/"+build), nonce, quotedRelease(previous), shell.Quote(build), mark)
}

// quotedName is build quoted for a script, or an empty word for none.
func quotedName(build string) string {
	if build == "" {
		return "''"
	}
	return shell.Quote(build)
}

func quotedRelease(build string) string {
	if build == "" {
		return "''"
	}
	return shell.Quote("releases/" + build)
}

// markBadScript marks build as failed so rollbacks skip it.
func markBadScript(dir, build string) string {
	return fmt.Sprintf("cd %s && : >>%s\n", shell.Quote(dir), shell.Quote("releases/.bad-"+build))
}

// pruneScript removes the oldest releases beyond keep, never the ones
// `current` and `previous` point at nor target (where a rollback goes,
// which may be older: "" for none), and stale temporary unpack dirs.
// Releases marked bad take no place among the keep newest good ones,
// which are the releases a rollback may go to: a failed deploy or a
// rollback left them, and each would otherwise push a good release out
// (after a rollback from 3 to 2 with keep 3, the deploy of 4 removed
// 1, where the rollback after it would go next). A bad release goes once
// keep releases, good or bad, are newer, so they stay few. It
// runs on every host after every deploy, so it spawns what it must only:
// links are resolved with cd -P and releases listed with newestFirst, as
// in inspectScript; a link to a missing release protects nothing. A
// release leaves its name before it is removed: a removal cut short (the
// host dying) leaves a temporary dir, which a later prune removes, not an
// incomplete releases/<build> that a deploy of that build would take for
// the release and switch to. A release it could not rename is reported
// as unpruned, one it renamed but could not delete (a file the bot's user
// may not remove, a mount inside it) as unremoved, each with the first
// line of the error: it still takes its disk space, and the deploy says
// so rather than that it was removed. So is a leftover temporary dir that
// could not be removed (unswept), at every prune while it stays. Temporary
// links of switches cut short (.current-*, .previous-* in the deploy
// directory) older than an hour are removed too, or reported (unlinked).
// Errors are kept in memory, not in
// a file: the disk may be the full one.
func pruneScript(dir string, keep int, target string) string {
	return fmt.Sprintf(`cd %s 2>/dev/null || exit 0
nl='
'
for l in .current-* .previous-*; do
	if [ -L "$l" ]; then
		err=$(find . -maxdepth 1 -type l \( -name '.current-*' -o -name '.previous-*' \) -mmin +60 -exec rm -f {} + 2>&1) || printf 'unlinked=%%s\n' "${err%%%%"$nl"*}"
		break
	fi
done
cd releases 2>/dev/null || exit 0
here=$PWD cur=none prev=none keep=%s
if cd -P ../current 2>/dev/null; then cur=${PWD##*/}; cd "$here"; fi
if cd -P ../previous 2>/dev/null; then prev=${PWD##*/}; cd "$here"; fi
n=0 g=0
%s
set -- .tmp-*
[ -e "$1" ] || exit 0
err=$(find . -maxdepth 1 -name '.tmp-*' -mmin +60 -exec rm -rf {} + 2>&1) || printf 'unswept=%%s\n' "${err%%%%"$nl"*}"
`, shell.Quote(dir), quotedName(target), newestFirst(fmt.Sprintf(`		n=$((n+1))
		if [ -e ".bad-$r" ]; then c=$n; else g=$((g+1)); c=$g; fi
		if [ "$c" -gt %d ] && [ "$r" != "$cur" ] && [ "$r" != "$prev" ] && [ "$r" != "$keep" ]; then
			if err=$(mv -- "$r" ".tmp-pruned-$r" 2>&1); then
				printf 'pruned=%%s\n' "$r"
				err=$(rm -rf -- ".tmp-pruned-$r" ".bad-$r" 2>&1) || printf 'unremoved=%%s %%s\n' "$r" "${err%%%%"$nl"*}"
			else
				printf 'unpruned=%%s %%s\n' "$r" "${err%%%%"$nl"*}"
			fi
		fi`, keep)))
}

// inDir runs a configured command in dir with the deploy's variables in the
// environment. cmd is the operator's own shell text from the config.
func inDir(dir string, env map[string]string, cmd string) string {
	var b strings.Builder
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, shell.Quote(env[k]))
	}
	fmt.Fprintf(&b, "cd %s\n%s\n", shell.Quote(dir), cmd)
	return b.String()
}

// parsePrefixed returns the value of the first "key=value" line.
func parsePrefixed(out []byte, key string) string {
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
