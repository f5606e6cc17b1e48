"""Fixtures for rkt-run's integration tests: an installed rkt-run in a temp prefix, real users, a store.

rkt-run is installed by `scripts/install-rktrun.sh` (what `make install-rkt-run`
runs) into /opt/rktrun-t* (the root filesystem: /tmp may be nosuid elsewhere, and
the launcher wants every directory above its code root-owned and not
world-writable, which /tmp and /var/tmp are not). Two users `rktrun-t<pid>a/b` are
created for the session and removed after it; commands run as them through
`setpriv` with exactly the environment a test gives.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "pod"))

from podfixtures import copy_store, make_template  # noqa: E402

CHECKOUT_RKT = os.path.join(ROOT, ".venv", "bin", "rkt")
# rkt-run refuses an rkt below a directory that others can write, and a clone may live under /tmp
# (CI clones anywhere): the policies name rkts in this root-owned dir, which the `installed`
# fixture writes and removes:
#   RKT     pyrkt's own launcher (as `make install` writes it) over a root-owned copy of src/ and no
#           site-packages: rkt-run runs it in its own interpreter (pyrkt.runner.inproc)
#   RKT_SH  a shell wrapper that execs the checkout's rkt: a foreign rkt, which rkt-run execs
RKT_DIR = f"/opt/rktrun-t-rkt{os.getpid()}"
RKT = os.path.join(RKT_DIR, "rkt")
RKT_SH = os.path.join(RKT_DIR, "rkt-sh")
RKT_SRC = os.path.join(RKT_DIR, "src")


def launcher_text(src: str, site: list[str]) -> str:
    """What scripts/install-launchers.py writes for `rkt` with this source tree and site dirs."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("pyrkt_install_launchers", os.path.join(ROOT, "scripts", "install-launchers.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text: str = mod.launcher_text(Path(ROOT, ".venv", "bin", "python"), Path(src), site, "pyrkt.cli.rkt:main")
    return text


def _write(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.chmod(path + ".tmp", 0o755)
    os.rename(path + ".tmp", path)


def _write_rkt_wrapper() -> None:
    os.makedirs(RKT_DIR, mode=0o755, exist_ok=True)
    os.chmod(RKT_DIR, 0o755)
    shutil.rmtree(RKT_SRC, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "src", "pyrkt"), os.path.join(RKT_SRC, "pyrkt"))  # copy2: the .pyc stay valid
    subprocess.run(["chmod", "-R", "go-w", RKT_SRC], check=True)
    os.chmod(RKT_SRC, 0o755)
    _write(RKT, launcher_text(RKT_SRC, []))
    _write(RKT_SH, f'#!/bin/sh\nexec {CHECKOUT_RKT} "$@"\n')


class Installed:
    def __init__(self, prefix: str, store: str, users: list[pwd.struct_passwd], work: str) -> None:
        self.prefix = prefix
        self.bin = os.path.join(prefix, "bin")
        self.config = os.path.join(prefix, "etc", "rktrunner.toml")
        self.state = os.path.join(prefix, "state")
        self.store = store
        self.users = users
        self.work = work  # root-owned 0755 dir for test files the users may read

    def policy(self, text: str) -> str:
        """Write the policy (atomically: a new inode, so the cache notices); `@RKT@`/`@RKT_SH@`/`@DIR@` filled in."""
        text = text.replace("@RKT@", RKT).replace("@RKT_SH@", RKT_SH).replace("@DIR@", self.store)
        tmp = self.config + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.config)
        return text

    def run(self, user: pwd.struct_passwd, *args: str, cmd: str = "rkt-run", env: dict[str, str] | None = None,
            cwd: str | None = None, stdin: str | None = None, argv0: str | None = None,
            timeout: float = 60, wrap: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        e = {"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "LANG": "C"}
        e.update(env or {})
        exe = cmd if cmd.startswith("/") else os.path.join(self.bin, cmd)
        # the environment is set by `env -i` right before rkt-run: hostile values must not reach setpriv itself
        argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--", *wrap,
                "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in e.items()), exe, *args]
        return subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=cwd or user.pw_dir,
                              input=stdin, timeout=timeout)


def _useradd(name: str, home: str) -> pwd.struct_passwd:
    subprocess.run(["userdel", "-f", name], capture_output=True)
    subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", name], check=True)
    os.makedirs(home, exist_ok=True)
    pw = pwd.getpwnam(name)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o755)
    return pw


def _kill_leftovers(prefix: str, users: list[pwd.struct_passwd]) -> None:
    """Processes this session started that outlived their pods (a failed test's worker): by pid, ours only."""
    import signal

    uids = {u.pw_uid for u in users}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if prefix.encode() in cmd or owner in uids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="session")
def installed(tmp_path_factory):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("needs root")
    _write_rkt_wrapper()
    prefix = tempfile.mkdtemp(prefix="rktrun-t", dir="/opt")
    os.chmod(prefix, 0o755)
    os.makedirs(os.path.join(prefix, "etc"), mode=0o755)
    work = os.path.join(prefix, "work")
    os.makedirs(work, mode=0o755)
    env = dict(os.environ, PREFIX=prefix, CONFIG=os.path.join(prefix, "etc", "rktrunner.toml"),
               STATE=os.path.join(prefix, "state"))
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-rktrun.sh")], env=env, check=True)
    template = make_template(str(tmp_path_factory.mktemp("rktrunimages")))
    store = copy_store(template, os.path.join(prefix, "store"))
    tag = f"rktrun-t{os.getpid() % 100000}"
    users = [_useradd(f"{tag}{c}", os.path.join(prefix, "home", f"{tag}{c}")) for c in "ab"]
    inst = Installed(prefix, store, users, work)
    yield inst
    listing = subprocess.run([RKT, f"--dir={store}", "list", "--full", "--no-legend"], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        cells = [c for c in line.split("\t") if c]
        if len(cells) > 4 and cells[4] == "running":
            subprocess.run([RKT, f"--dir={store}", "stop", "--force", cells[0]], capture_output=True)
    subprocess.run([RKT, f"--dir={store}", "gc", "--grace-period=0s", "--expire-prepared=0s"], capture_output=True)
    _kill_leftovers(prefix, users)
    for u in users:
        subprocess.run(["userdel", "-f", u.pw_name], capture_output=True)
    env["PREFIX"] = prefix
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "install-rktrun.sh"), "uninstall"], env=env, check=True)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if prefix in line.split()[4]:
                subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)
    shutil.rmtree(prefix, ignore_errors=True)
    shutil.rmtree(RKT_DIR, ignore_errors=True)
