"""Isolation flags of `rkt run` as root with real pods: seccomp groups and rkt's default filter,
--private-users, --interactive under a real pty, and run-prepared's own flags."""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.root

BB = "example.com/busybox"
H = "--net=host"
SIGSYS_EXIT = 128 + 31


def sh(script: str) -> list[str]:
    return ["--exec", "/bin/sh", "--", "-c", script]


# -- seccomp ------------------------------------------------------------------

def test_default_filter_is_rkt_default_whitelist(rkt):  # type: ignore[no-untyped-def]
    """No --seccomp: rkt's default whitelist is in force; a call outside it (sethostname) kills with SIGSYS."""
    r = rkt("run", H, BB, *sh("grep ^Seccomp: /proc/self/status; echo ok"))
    assert r.code == 0 and "Seccomp:\t2" in r.out and "ok" in r.out, r.err
    r = rkt("run", "--net=none", BB, *sh("/bin/busybox hostname foo; echo unreachable"))
    assert r.code == 0 and "unreachable" in r.out  # the shell survives the child's death...
    r = rkt("run", "--net=none", BB, "--exec", "/bin/busybox", "--", "hostname", "foo")
    assert r.code == SIGSYS_EXIT, (r.code, r.err)  # ...the app itself is killed by SIGSYS


def test_insecure_options_seccomp_turns_filtering_off(rkt):  # type: ignore[no-untyped-def]
    r = rkt("--insecure-options=image,seccomp", "run", H, BB, *sh("grep ^Seccomp: /proc/self/status"))
    assert r.out == "Seccomp:\t0\n", r.err


def test_seccomp_remove_rkt_default_blacklist_with_errno(rkt):  # type: ignore[no-untyped-def]
    """mode=remove,errno=EPERM,@rkt/default-blacklist: swapoff/unshare fail with EPERM, the rest works."""
    script = ("/bin/busybox swapoff /nothing 2>&1; echo swapoff=$?; /bin/busybox unshare -u true 2>&1; echo unshare=$?;"
              " /bin/busybox hostname; grep ^Seccomp: /proc/self/status")
    r = rkt("run", "--net=none", "--hostname=h1", BB, "--caps-retain=CAP_SYS_ADMIN",
            "--seccomp", "mode=remove,errno=EPERM,@rkt/default-blacklist", *sh(script))
    assert r.code == 0, r.err
    assert "swapoff=1" in r.out and "Operation not permitted" in r.out, r.out
    assert "unshare=1" in r.out
    assert "h1\n" in r.out and "Seccomp:\t2" in r.out


def test_seccomp_errno_is_the_configured_one(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--seccomp", "mode=remove,errno=ENOSYS,@docker/default-blacklist", *sh("/bin/busybox swapoff /x 2>&1; echo rc=$?"))
    assert "Function not implemented" in r.out and "rc=1" in r.out, (r.out, r.err)


def test_seccomp_retain_set_allows_it(rkt):  # type: ignore[no-untyped-def]
    """A retain-set with the default whitelist plus sethostname lets hostname work; without it EPERM."""
    base = "mode=retain,errno=EPERM,@docker/default-whitelist"
    r = rkt("run", "--net=none", BB, "--caps-retain=CAP_SYS_ADMIN", "--seccomp", base + ",sethostname",
            *sh("/bin/busybox hostname changed && /bin/busybox hostname"))
    assert r.code == 0 and r.out == "changed\n", (r.out, r.err)
    r = rkt("run", "--net=none", BB, "--caps-retain=CAP_SYS_ADMIN", "--seccomp", base,
            *sh("/bin/busybox hostname changed 2>&1; echo rc=$?"))
    assert "rc=1" in r.out and "Operation not permitted" in r.out, (r.out, r.err)


def test_seccomp_systemd_groups(rkt):  # type: ignore[no-untyped-def]
    """@systemd/process in a remove-set blocks unshare; @systemd/privileged blocks sethostname."""
    r = rkt("run", "--net=none", BB, "--caps-retain=CAP_SYS_ADMIN", "--seccomp", "mode=remove,errno=EACCES,@systemd/privileged",
            *sh("/bin/busybox hostname x 2>&1; echo rc=$?"))
    assert "Permission denied" in r.out and "rc=1" in r.out, (r.out, r.err)
    # (the shell could not even fork under @systemd/process: run busybox itself)
    r = rkt("run", "--net=none", BB, "--caps-retain=CAP_SYS_ADMIN", "--seccomp", "mode=remove,errno=EPERM,@systemd/process",
            "--exec", "/bin/busybox", "--", "unshare", "-u", "/bin/true")
    assert r.code == 1 and "Operation not permitted" in r.out + r.err, (r.code, r.out, r.err)


def test_seccomp_appc_all_retain_means_no_filter(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--seccomp", "mode=retain,@appc.io/all", *sh("grep ^Seccomp: /proc/self/status"))
    assert r.out == "Seccomp:\t0\n", r.err


def test_seccomp_without_errno_kills_with_sigsys(rkt):  # type: ignore[no-untyped-def]
    """rkt: a blocked syscall without errno= terminates the app with SIGSYS."""
    r = rkt("run", H, BB, "--seccomp", "mode=remove,mkdir,mkdirat", "--exec", "/bin/mkdir", "--", "/newdir")
    assert r.code == SIGSYS_EXIT, (r.code, r.err)


def test_seccomp_manifest_keeps_groups(rkt):  # type: ignore[no-untyped-def]
    from podfixtures import pod_json

    rkt("run", "--uuid-file-save", f"{rkt.dir}/u", H, BB, "--seccomp", "mode=remove,errno=EPERM,@rkt/default-blacklist,socket")
    pm = pod_json(rkt.dir, open(f"{rkt.dir}/u").read())
    isos = pm["apps"][0]["app"]["isolators"]  # type: ignore[index]
    assert {"name": "os/linux/seccomp-remove-set", "value": {"set": ["@rkt/default-blacklist", "socket"], "errno": "EPERM"}} in isos


@pytest.mark.parametrize("arg, msg", [
    ("mode=remove,@rkt/nope", "unknown seccomp group"),
    ("mode=remove,errno=EWHAT,chmod", "unknown errno"),
    ("mode=drop,chmod", "mode must be retain or remove"),
])
def test_seccomp_bad_input(rkt, arg, msg):  # type: ignore[no-untyped-def]
    r = rkt("run", H, BB, "--seccomp", arg)
    assert r.code == 254 and msg in r.err and len(r.err.strip().splitlines()) == 1, r.err


# -- --interactive ----------------------------------------------------------------

def _spawn_on_pty(rkt, *args: str, rows: int = 30, cols: int = 100):  # type: ignore[no-untyped-def]
    """Start `rkt args…` with a fresh pty as its stdin/stdout/stderr; returns (process, our master fd)."""
    import fcntl
    import pty
    import struct
    import subprocess
    import termios

    from podfixtures import RKT, SRC

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(os.environ, PYTHONPATH=SRC)
    p = subprocess.Popen(RKT + ["--dir", rkt.dir, *args], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    return p, master


def _read_until(master: int, pattern: str, timeout: float = 15) -> str:
    import re
    import select

    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if re.search(pattern, buf.decode(errors="replace"), re.M):
                return buf.decode(errors="replace")
    raise AssertionError(f"{pattern!r} not seen in {buf!r}")


def test_interactive_shell_gets_a_pty(rkt):  # type: ignore[no-untyped-def]
    """rkt run --interactive IMAGE --exec /bin/sh under a terminal: a real shell on a pty of the pod's, sized as ours."""
    import signal

    p, master = _spawn_on_pty(rkt, "run", "--interactive", H, BB, "--exec", "/bin/sh")
    try:
        os.write(master, b"/bin/busybox tty; /bin/busybox stty size\n")
        out = _read_until(master, r"^30 100\r?$")
        assert re_search(r"^/dev/pts/\d+\r?$", out), out
        # our terminal is resized: the app's follows on SIGWINCH
        import fcntl
        import struct
        import termios

        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(p.pid, signal.SIGWINCH)
        time.sleep(0.2)
        os.write(master, b"/bin/busybox stty size\n")
        _read_until(master, r"^40 120\r?$")
        os.write(master, b"exit 7\n")
        assert p.wait(timeout=20) == 7
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text, re.M) is not None


def test_interactive_without_a_tty_passes_stdio_through(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--interactive", H, BB, "--exec", "/bin/sh", stdin="echo hi; /bin/busybox tty; echo rc=$?\n")
    assert r.out.startswith("hi\nnot a tty\nrc=1\n"), (r.out, r.err)


def test_interactive_app_exit_ends_pod_despite_background_holder(rkt):  # type: ignore[no-untyped-def]
    """The app exits while a background child still holds the pty: rkt run returns, with the app's status."""
    p, master = _spawn_on_pty(rkt, "run", "--interactive", H, BB, "--exec", "/bin/sh", "--", "-c", "sleep 30 & echo bye; exit 3")
    try:
        _read_until(master, r"bye")
        assert p.wait(timeout=15) == 3
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


# -- --private-users ------------------------------------------------------------------

def _uid_map(out: str) -> tuple[int, int, int]:
    inside, outside, count = (int(x) for x in out.split()[:3])
    return inside, outside, count


def test_private_users_maps_root_to_an_unprivileged_range(rkt):  # type: ignore[no-untyped-def]
    """uid 0 inside is a non-zero host uid; the image's files are still root's (and user's) inside; writes work."""
    script = ("cat /proc/self/uid_map; cat /proc/self/gid_map; id -u; stat -c '%u %g' /bin/busybox /owned-by-user;"
              " echo x > /newfile && stat -c '%u' /newfile; ls -ld /proc/1 >/dev/null && echo proc-ok")
    r = rkt("run", "--private-users", "--net=none", BB, *sh(script))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    inside, outside, count = _uid_map(lines[0])
    assert (inside, count) == (0, 65536) and outside >= 65536 and outside % 65536 == 0, lines[0]
    assert _uid_map(lines[1]) == (inside, outside, count)
    assert lines[2:] == ["0", "0 0", "1000 50", "0", "proc-ok"], r.out


def test_private_users_pods_get_different_ranges_and_empty_volumes_are_theirs(rkt):  # type: ignore[no-untyped-def]
    outs = []
    for _ in range(2):
        r = rkt("run", "--private-users", H, "--volume=data,kind=empty,uid=1000,gid=100,mode=0700",
                "example.com/data", "--exec", "/bin/sh", "--", "-c", "cat /proc/self/uid_map; stat -c '%a %u %g' /var/data")
        assert r.code == 0, r.err
        outs.append(r.out.splitlines())
        assert outs[-1][1] == "700 1000 100", r.out
    assert _uid_map(outs[0][0])[1] != _uid_map(outs[1][0])[1]


def test_private_users_no_overlay(rkt):  # type: ignore[no-untyped-def]
    r = rkt("run", "--private-users", "--no-overlay", H, BB, *sh("cat /proc/self/uid_map; stat -c %u /bin/busybox; touch /x && echo w"))
    assert r.code == 0, r.err
    lines = r.out.split("\n")
    assert _uid_map(lines[0])[1] != 0 and lines[1:3] == ["0", "w"], r.out


def test_private_users_prepare_and_enter(rkt):  # type: ignore[no-untyped-def]
    """prepare --private-users keeps the range for run-prepared; enter lands in the pod's user namespace."""
    from podfixtures import spawn_rkt

    uuid = rkt("prepare", "--quiet", "--private-users", H, BB, *sh("sleep 30")).out.strip()
    p = spawn_rkt(rkt.dir, "run-prepared", uuid)
    try:
        deadline = time.monotonic() + 15
        out = ""
        while time.monotonic() < deadline:
            r = rkt("enter", uuid, "/bin/cat", "/proc/self/uid_map")
            if r.code == 0:
                out = r.out
                break
            time.sleep(0.1)
        assert _uid_map(out)[0] == 0 and _uid_map(out)[1] != 0, out
    finally:
        rkt("stop", "--force", uuid)
        p.wait(timeout=20)


# -- run-prepared's own flags -------------------------------------------------------------

def test_run_prepared_net_dns_hostname(rkt):  # type: ignore[no-untyped-def]
    """rkt chooses network, DNS and host name at run time: run-prepared's flags override prepare's."""
    uuid = rkt("prepare", "--quiet", "--hostname=from-prepare", BB,
               *sh("hostname; cat /etc/resolv.conf; ls /sys/class/net | tr '\\n' ' '")).out.strip()
    r = rkt("run-prepared", "--net=none", "--hostname=from-run", "--dns=10.1.2.3", "--dns-search=example.org",
            "--dns-opt=ndots:2", "--dns-domain=corp.example", "--mds-register=false", uuid)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "from-run"
    assert "nameserver 10.1.2.3" in lines and "search example.org" in lines and "options ndots:2" in lines
    assert "domain corp.example" in lines
    assert lines[-1].split() == ["lo"], r.out  # --net=none: only loopback


def test_run_prepared_keeps_prepare_values_without_flags(rkt):  # type: ignore[no-untyped-def]
    uuid = rkt("prepare", "--quiet", H, "--hostname=from-prepare", BB, "--exec", "/bin/hostname").out.strip()
    r = rkt("run-prepared", uuid)
    assert r.out == "from-prepare\n", r.err


def test_run_prepared_interactive_false_and_refusals(rkt):  # type: ignore[no-untyped-def]
    uuid = rkt("prepare", "--quiet", H, BB).out.strip()
    r = rkt("run-prepared", "--mds-register", uuid)
    assert r.code == 254 and "metadata service" in r.err and len(r.err.splitlines()) == 1
    r = rkt("run-prepared", "--net=default,foo", uuid)
    assert r.code == 254 and "--net" in r.err and len(r.err.splitlines()) == 1
    assert "prepared" in rkt("status", uuid).out  # refused before anything moved
    r = rkt("run-prepared", "--interactive=false", uuid)
    assert r.code == 0 and r.out == "hello from busybox\n", r.err


def test_refused_flags_are_one_line(rkt):  # type: ignore[no-untyped-def]
    for args, msg in ((["--port=http:8080"], "--port"), (["--mds-register"], "metadata service"), (["--mds-register=true"], "metadata service")):
        r = rkt("run", H, *args, BB)
        assert r.code == 254 and msg in r.err and len(r.err.strip().splitlines()) == 1, r.err
    r = rkt("run", H, "--mds-register=false", BB)
    assert r.code == 0 and r.out == "hello from busybox\n", r.err
