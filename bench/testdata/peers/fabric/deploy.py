"""Deploy or roll back the app on every host at once with Fabric 2.

    python3 deploy.py CONFIG.json deploy BUILD
    python3 deploy.py CONFIG.json rollback

CONFIG.json holds hosts ("127.0.0.1:PORT"), user, key, known_hosts, path (the
app directory on the hosts) and tarball (the local build tarball, with
{build} in its name). A deploy uploads the tarball to every host, unpacks it
into releases/BUILD, switches current atomically, restarts (a no-op) and
checks the deployed BUILD file; a rollback switches current back to the
newest other release. Host keys are verified against known_hosts.
"""

import json
import shlex
import sys

import paramiko
from fabric import ThreadingGroup


def connect(cfg):
    group = ThreadingGroup(
        *cfg["hosts"],
        user=cfg["user"],
        connect_kwargs={
            "key_filename": cfg["key"],
            "look_for_keys": False,
            "allow_agent": False,
        },
    )
    for c in group:
        # Fabric accepts unknown host keys by default: refuse them instead.
        c.client.load_host_keys(cfg["known_hosts"])
        c.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return group


def switch(group, app, release):
    group.run(
        f"cd {app} && ln -sfn {shlex.quote(release)} .current-new && mv -T .current-new current",
        hide=True,
    )


def check(group, app, build):
    group.run(f'test "$(cat {app}/current/BUILD)" = {shlex.quote(build)}', hide=True)


def deploy(group, cfg, build):
    app = shlex.quote(cfg["path"])
    release = f"releases/{build}"
    tarball = f"{cfg['path']}/releases/.{build}.tar.gz"
    group.run(f"mkdir -p {app}/{shlex.quote(release)} {app}/shared", hide=True)
    group.put(cfg["tarball"].replace("{build}", build), tarball)
    group.run(
        f"tar -xzf {shlex.quote(tarball)} -C {app}/{shlex.quote(release)} && rm -f {shlex.quote(tarball)}",
        hide=True,
    )
    switch(group, app, release)
    group.run("true", hide=True)  # restart
    check(group, app, build)


def rollback(group, cfg):
    app = shlex.quote(cfg["path"])
    # One command per host finds the newest release other than the current
    # one and switches to it.
    flipped = group.run(
        f"cd {app} && "
        'prev=$(ls -1t releases | grep -vxF "$(basename "$(readlink current)")" | head -n 1) && '
        'test -n "$prev" && ln -sfn "releases/$prev" .current-new && mv -T .current-new current && '
        'echo "$prev"',
        hide=True,
    )
    group.run("true", hide=True)  # restart
    builds = {r.stdout.strip() for r in flipped.values()}
    if len(builds) != 1:
        sys.exit(f"hosts rolled back to different builds: {sorted(builds)}")
    check(group, app, builds.pop())


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    group = connect(cfg)
    try:
        if sys.argv[2] == "deploy":
            deploy(group, cfg, sys.argv[3])
        elif sys.argv[2] == "rollback":
            rollback(group, cfg)
        else:
            sys.exit(f"unknown action {sys.argv[2]!r}")
    finally:
        group.close()


if __name__ == "__main__":
    main()
