"""Worker pods (two users, concurrent commands), rktrunner-gc (busy skipped, idle stopped), config errors."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from runnerfixtures import RKT, Installed

WORKERS = """rkt = "@RKT@"
preserve-cwd = true
worker-pods = true
[environment]
STAMP = "{{.STAMP}}"
[options]
general = ["--insecure-options=image", "--dir=@DIR@"]
run = ["--net=host"]
[volume.home]
volume = "kind=host,source={{.HomeDir}}"
mount = "target={{.HomeDir}}"
[alias.wsh]
image = "example.com/busybox"
exec = ["/bin/sh"]
passwd = ["{{.Username}}:x:{{.Uid}}:{{.Gid}}::{{.HomeDir}}:/bin/sh"]
group = ["{{.Username}}:x:{{.Gid}}:"]
host-timezone = true
environment-update = ["STAMP"]
"""


def workers(inst: Installed) -> dict[str, str]:
    out = subprocess.run([RKT, f"--dir={inst.store}", "list", "--full", "--no-legend"], capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        cells = [c for c in line.split("\t") if c]
        if len(cells) > 4 and cells[1].startswith("worker-") and cells[4] == "running":
            rows[cells[0]] = cells[1]
    return rows


def test_worker_pods_two_users_concurrent_then_gc(installed: Installed) -> None:
    inst = installed
    inst.policy(WORKERS)
    script = 'echo "$(id -u) $(id -un) $(pwd) $STAMP $(cat /proc/1/comm 2>/dev/null)"; sleep 1'
    procs = []
    for n, u in enumerate(inst.users):
        for k in range(2):
            e = {"PATH": "/usr/bin:/bin", "HOME": u.pw_dir, "STAMP": f"s{n}{k}"}
            argv = ["setpriv", f"--reuid={u.pw_uid}", f"--regid={u.pw_gid}", "--init-groups", "--", "/usr/bin/env", "-i",
                    *(f"{a}={b}" for a, b in e.items()), os.path.join(inst.bin, "rkt-run"), "wsh", "-c", script]
            procs.append((u, k, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                 cwd=u.pw_dir)))
        time.sleep(0.2)
    outs = {}
    for u, k, p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs[(u.pw_uid, k)] = out.strip()
    for n, u in enumerate(inst.users):
        for k in range(2):
            # the user's uid, name from the passwd line the alias adds, cwd, and STAMP refreshed per enter
            assert outs[(u.pw_uid, k)].split()[:4] == [str(u.pw_uid), u.pw_name, u.pw_dir, f"s{n}{k}"]
    running = workers(inst)
    assert sorted(running.values()) == sorted(f"worker-{u.pw_uid}" for u in inst.users)  # one pod per user and image
    # arguments after the command stay the command's inside a worker too (rkt enter stops parsing at the UUID)
    r = inst.run(inst.users[0], "wsh", "-c", "id -u", "--user=0", "--app=worker-0")
    assert r.returncode == 0 and r.stdout.strip() == str(inst.users[0].pw_uid), r.stderr
    # the timezone came from the host
    r = inst.run(inst.users[0], "wsh", "-c", "cmp -s /etc/localtime /etc/localtime && wc -c < /etc/localtime")
    assert r.returncode == 0 and int(r.stdout.strip()) == os.path.getsize("/etc/localtime"), r.stderr
    # rktrunner-gc: one worker busy (a command inside), the other idle
    busy_user, idle_user = inst.users
    busy = subprocess.Popen(["setpriv", f"--reuid={busy_user.pw_uid}", f"--regid={busy_user.pw_gid}", "--init-groups",
                             "--", os.path.join(inst.bin, "rkt-run"), "wsh", "-c", "echo started; sleep 5"],
                            stdout=subprocess.PIPE, text=True, cwd=busy_user.pw_dir)
    assert busy.stdout is not None and busy.stdout.readline().strip() == "started"
    r = subprocess.run([os.path.join(inst.bin, "rktrunner-gc"), "--dry-run", "--grace-period=0s"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(workers(inst)) == 2
    r = subprocess.run([os.path.join(inst.bin, "rktrunner-gc"), "--grace-period=0s"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    by_user = {v: k for k, v in running.items()}
    assert f"busy {by_user[f'worker-{busy_user.pw_uid}']}" in r.stdout
    assert f"stopped {by_user[f'worker-{idle_user.pw_uid}']}" in r.stdout
    busy.wait(timeout=60)
    assert list(workers(inst).values()) == [f"worker-{busy_user.pw_uid}"]
    # the stopped user's next command starts a new worker
    r = inst.run(idle_user, "wsh", "-c", "id -u")
    assert r.returncode == 0 and r.stdout.strip() == str(idle_user.pw_uid), r.stderr
    # --prepare only starts (or finds) the worker; rktrunner-gc is root's
    r = inst.run(busy_user, "--prepare", "wsh")
    assert r.returncode == 0 and r.stdout.strip() in workers(inst), r.stderr
    r = inst.run(busy_user, cmd="rktrunner-gc")
    assert r.returncode != 0
    subprocess.run([os.path.join(inst.bin, "rktrunner-gc"), "--grace-period=0s"], capture_output=True, check=True)
    assert workers(inst) == {}


@pytest.mark.parametrize("text,message", [
    ('rkt = "/r"\nnope = true\n', ":2: nope: unknown key"),
    ('rkt = ["/r"]\n', ":1: rkt: must be a string"),
    ('default-interactive-cmd = "sh"\n', ": rkt: required key missing"),
    ('rkt = "/r"\n[options.common]\nrun = "--net=host"\n', ":3: options.common.run: must be a list of strings"),
    ('rkt = "/r"\n[options]\nimage = ["--user={{.Uid"]\n', ":3: options.image: bad template"),
    ('rkt = "/r"\n[alias.a]\nimage = "i"\nhost-timezone = true\n', ":4: alias.a.host-timezone: needs worker-pods"),
    ('rkt = "/r"\n[alias.a]\nimage = "i"\ngroup = ["g:x:1:"]\n', ":4: alias.a.group: needs worker-pods"),
    ('rkt = "/r"\nworker-pods = true\n[alias.a]\nimage = "i"\nenvironment-update = ["X"]\nenvironment-blacklist = ["X"]\n',
     ":6: alias.a.environment-blacklist: X is both"),
    ('rkt = "/r"\n[alias.ruby]\nimage = "i"\n[alias.r2]\nimage = "j"\nexec = ["/usr/bin/ruby"]\n',
     ":4: alias.r2: duplicate alias 'ruby'"),
    ('rkt = "/r"\n[volume.v]\nvolume = "kind=empty"\nreadonly = true\n', ":4: volume.v.readonly: unknown key"),
    ('rkt = "/r"\n[alias.a]\nimage = "i"\n[alias.a.environment]\nX = "{{.Y"\n', ":5: alias.a.environment.X: bad template"),
    ('rkt = "/r"\nworker-pods = "yes"\n', ":2: worker-pods: must be a boolean"),
    ('rkt = "/r"\n[auto-image-prefix]\n"a/" = 1\n', ":3: auto-image-prefix.a/: must be a string"),
    ('rkt = "/r"\n[options.sometimes]\nrun = []\n', ":2: options.sometimes: unknown key"),
    ('rkt = "/r"\n[alias.a\n', ": not valid TOML"),
])
def test_every_config_error_is_one_line_exit_2(installed: Installed, text: str, message: str) -> None:
    installed.policy(text)
    r = installed.run(installed.users[0], "-e", "/bin/id", "example.com/busybox")
    assert r.returncode == 2, r
    assert r.stderr.startswith(f"rkt-run: {installed.config}") and message in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stdout == ""


NOSHELL = """rkt = "@RKT@"
worker-pods = true
[options]
general = ["--insecure-options=image", "--dir=@DIR@"]
run = ["--net=host"]
[alias.bare]
image = "example.com/noshell"
exec = ["/bin/busybox"]
"""


def test_an_image_without_shell_or_sleep_can_be_a_worker(installed: Installed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The worker's app is rkt-run's own static idle program, bind-mounted read-only: nothing of the image."""
    from imagebuild import aci_bytes, aci_manifest, busybox_entries

    inst = installed
    aci = tmp_path / "noshell.aci"
    aci.write_bytes(aci_bytes(aci_manifest("example.com/noshell", "1.0", ["/bin/busybox", "true"]), busybox_entries(())))
    subprocess.run([RKT, f"--dir={inst.store}", "--insecure-options=image", "fetch", str(aci)], check=True, capture_output=True)
    inst.policy(NOSHELL)
    u = inst.users[1]
    before = set(workers(inst))
    try:
        r = inst.run(u, "-v", "bare", "echo", "first")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "first\n"
        assert "--mount volume=rktrunner-idle,target=/.rktrunner-idle" in r.stderr and "--exec /.rktrunner-idle" in r.stderr
        new = set(workers(inst)) - before
        assert len(new) == 1, workers(inst)
        r = inst.run(u, "bare", "sh", "-c", "exit 5")  # busybox's own sh: the image has no /bin/sh
        assert r.returncode == 5, r.stderr
        assert set(workers(inst)) - before == new  # the same worker, entered
    finally:
        for uuid in set(workers(inst)) - before:
            subprocess.run([RKT, f"--dir={inst.store}", "stop", uuid], capture_output=True)
    listing = subprocess.run([RKT, f"--dir={inst.store}", "status", "--wait=20s", *new], capture_output=True, text=True).stdout
    assert f"app-worker-{u.pw_uid}=0" in listing.splitlines(), listing  # the idle program exits 0 on rkt stop's SIGTERM


def test_idle_warm_writes_only_its_own_pid_into_a_cgroup_procs_file(installed: Installed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    idle = os.path.join(installed.prefix, "lib", "pyrkt-rktrun", "idle")
    target = tmp_path / "cgroup.procs"
    target.write_text("")
    for path in ("/etc/passwd", str(target), "/sys/fs/cgroup/../../etc/x/cgroup.procs", "/sys/fs/cgroup/cpu/tasks"):
        assert subprocess.run([idle, "--warm", path]).returncode == 2, path
    assert target.read_text() == ""
    with open("/proc/self/cgroup") as f:
        from pyrkt.linux.cgroups.warm import own_procs_files

        files = [p for p in own_procs_files(f.read()) if os.path.exists(p)]
    if files:
        assert subprocess.run([idle, "--warm", files[0]]).returncode == 0
