#!/bin/sh
# mkartifacts.sh OUTDIR — builds the demo app once and writes the three demo
# builds Switchman deploys in its demo:
#
#	OUTDIR/demo-N.tar.gz         N = 1, 2, 3
#	OUTDIR/demo-N.tar.gz.sha256  "<hex>  demo-N.tar.gz" (sha256sum format)
#
# Every tarball holds, at its root (no leading directory):
#
#	demo-app        the app (demo/app), one binary shared by all builds
#	BUILD           the build id and a newline
#	bin/restart     restart command of the demo config (contract below)
#	bin/stop        stops the running instance
#	bin/migrations  lists and "applies" migrations (contract below)
#	migrations/     001_create_users.sql; builds 2 and 3 add 002_add_email.sql
#	BROKEN          build 3 only: its health check answers 500, so the demo
#	                can show an automatic revert
#
# The archives are reproducible (sorted names, mtime 0, owner 0:0, fixed
# modes, gzip without name or time) and the script is idempotent: running it
# again rewrites byte-identical files.
#
# Needs GNU tar (set TAR=gtar where tar is BSD tar), gzip, sha256sum and Go
# (set GO to use another toolchain).
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi

GO=${GO:-go}
TAR=${TAR:-tar}
LC_ALL=C
export LC_ALL

mkdir -p "$1"
out=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -buildvcs=false keeps the commit out of the binary, so the tarballs only
# change when the app does.
(cd "$root" && CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false -ldflags='-s -w' -o "$tmp/demo-app" ./demo/app)

# stage_scripts DIR writes bin/ of a release into DIR.
stage_scripts() {
	mkdir -p "$1/bin"

	cat >"$1/bin/stop" <<'SCRIPT'
#!/bin/sh
# bin/stop — stops the demo app started by bin/restart.
#
# Run it with the working directory set to the app's deploy path (the
# directory holding current, releases/ and shared/). It sends TERM to the
# pid in shared/run/demo.pid, waits up to 5 s for it to exit, then sends
# KILL, and removes the pid file. Nothing running is not an error.
set -eu

pidfile=shared/run/demo.pid
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
case $pid in
'' | *[!0-9]*)
	echo "stop: ignoring $pidfile: not a pid" >&2
	rm -f "$pidfile"
	exit 0
	;;
esac

# alive PID: the process exists and is not a zombie (a zombie has exited;
# its parent just has not reaped it yet).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/stat" ]; then
		st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
		case ${st##*) } in Z*) return 1 ;; esac
	fi
	return 0
}

# is_demo PID: where /proc exists, only signal a process that runs
# demo-app, never one that reused a stale pid (after a reboot, say).
is_demo() {
	[ -r "/proc/$1/cmdline" ] || return 0
	case $(tr '\0' ' ' <"/proc/$1/cmdline") in
	*demo-app*) return 0 ;;
	esac
	return 1
}

if alive "$pid" && is_demo "$pid"; then
	kill -TERM "$pid" 2>/dev/null || true
	i=0
	while alive "$pid"; do
		if [ "$i" -ge 50 ]; then
			echo "stop: pid $pid did not exit within 5s of TERM; sending KILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			i=0
			while alive "$pid" && [ "$i" -lt 20 ]; do
				sleep 0.1
				i=$((i + 1))
			done
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "stopped pid $pid"
fi
rm -f "$pidfile"
SCRIPT

	cat >"$1/bin/restart" <<'SCRIPT'
#!/bin/sh
# bin/restart — the demo config's restart command.
#
# Run it with the working directory set to the app's deploy path (the
# directory holding current, releases/ and shared/). It stops the previous
# instance (bin/stop), starts current/demo-app detached from this shell,
# with its output appended to shared/log/demo.log, writes its pid to
# shared/run/demo.pid and exits at once: the health check that follows
# tells whether the app came up. DEMO_ADDR, when set, is passed to the app
# (its listen address; default 127.0.0.1:8099).
set -eu

if [ ! -x current/demo-app ]; then
	echo "restart: no current/demo-app in $(pwd); run me from the deploy path" >&2
	exit 1
fi
mkdir -p shared/run shared/log

sh "$(dirname "$0")/stop"

if [ -n "${DEMO_ADDR:-}" ]; then
	export DEMO_ADDR
fi
# Every descriptor of the app points away from this shell's, so whoever
# runs restart and reads its output is not kept waiting by the app.
if command -v setsid >/dev/null 2>&1; then
	setsid nohup ./current/demo-app >>shared/log/demo.log 2>&1 </dev/null &
else
	nohup ./current/demo-app >>shared/log/demo.log 2>&1 </dev/null &
fi
pid=$!
echo "$pid" >shared/run/demo.pid.tmp
mv -f shared/run/demo.pid.tmp shared/run/demo.pid
echo "started demo build $(cat current/BUILD) as pid $pid"
SCRIPT

	cat >"$1/bin/migrations" <<'SCRIPT'
#!/bin/sh
# bin/migrations pending|apply — a stand-in for a real migrator, enough for
# the demo to show migrations in a deploy. It runs no SQL.
#
# A migration is a file migrations/NNN_name.sql of this release; its name
# is NNN_name. The release is the directory above this script, and the
# deploy path two levels above that (PATH/releases/<build>), so the working
# directory does not matter. Applied names are kept one a line in
# PATH/shared/migrations.applied.
#
#	pending  prints the names not applied yet, in order, one a line
#	apply    appends them to shared/migrations.applied
set -eu

release=$(cd "$(dirname "$0")/.." && pwd -P)
shared=$(cd "$release/../.." && pwd -P)/shared
applied=$shared/migrations.applied

is_applied() {
	[ -f "$applied" ] || return 1
	while IFS= read -r line || [ -n "$line" ]; do
		[ "$line" = "$1" ] && return 0
	done <"$applied"
	return 1
}

pending() {
	for f in "$release"/migrations/*.sql; do
		[ -f "$f" ] || continue
		name=$(basename "$f" .sql)
		is_applied "$name" || echo "$name"
	done
}

case ${1:-} in
pending)
	pending
	;;
apply)
	names=$(pending)
	[ -n "$names" ] || exit 0
	mkdir -p "$shared"
	for name in $names; do
		echo "$name" >>"$applied"
		echo "applied $name"
	done
	;;
*)
	echo "usage: $0 pending|apply" >&2
	exit 2
	;;
esac
SCRIPT
}

# stage BUILD DIR lays out the release of BUILD in DIR.
stage() {
	build=$1
	dir=$2
	mkdir -p "$dir/migrations"
	cp "$tmp/demo-app" "$dir/demo-app"
	printf '%s\n' "$build" >"$dir/BUILD"
	stage_scripts "$dir"

	cat >"$dir/migrations/001_create_users.sql" <<'SQL'
CREATE TABLE users (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL
);
SQL
	if [ "$build" -ge 2 ]; then
		cat >"$dir/migrations/002_add_email.sql" <<'SQL'
ALTER TABLE users ADD COLUMN email TEXT;
SQL
	fi
	if [ "$build" -eq 3 ]; then
		echo "This build fails its health check on purpose." >"$dir/BROKEN"
	fi

	# Fixed modes: the umask of whoever runs this must not change the bytes.
	find "$dir" -type d -exec chmod 0755 {} +
	find "$dir" -type f -exec chmod 0644 {} +
	chmod 0755 "$dir/demo-app" "$dir/bin/restart" "$dir/bin/stop" "$dir/bin/migrations"
}

for build in 1 2 3; do
	dir=$tmp/demo-$build
	stage "$build" "$dir"
	name=demo-$build.tar.gz
	# Top-level names listed in byte order; --sort=name orders the rest.
	names=$(cd "$dir" && ls -1A | sort)
	# shellcheck disable=SC2086 # names are ours: no spaces, no globs.
	(cd "$dir" && "$TAR" --format=ustar --sort=name --mtime=@0 \
		--owner=0 --group=0 --numeric-owner -cf "$tmp/demo-$build.tar" $names)
	gzip -9 -n -c "$tmp/demo-$build.tar" >"$tmp/$name"
	sum=$(sha256sum <"$tmp/$name")
	printf '%s  %s\n' "${sum%% *}" "$name" >"$tmp/$name.sha256"
	mv -f "$tmp/$name" "$out/$name"
	mv -f "$tmp/$name.sha256" "$out/$name.sha256"
	echo "$out/$name"
done
