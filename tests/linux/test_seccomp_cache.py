"""The cache of compiled seccomp programs (pyrkt.linux.seccomp_cache).

Every test points the cache at its own tmp dir (a parameter, or
PYRKT_SECCOMP_CACHE), never at /run/pyrkt/seccomp.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyrkt.linux import seccomp_cache as sc
from pyrkt.linux.seccomp import BpfProgram, SeccompError, compile_program

ALLOW = "SCMP_ACT_ALLOW"
PROFILE = {"defaultAction": ALLOW, "flags": ["SECCOMP_FILTER_FLAG_LOG"], "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
           "syscalls": [{"names": ["getppid", "uname", "no_such_syscall_x"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
                        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 8}]}]}


@pytest.fixture(autouse=True)
def _no_real_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever a test forgets to pass, it does not touch the host's cache."""
    monkeypatch.setenv(sc.ENV, str(tmp_path / "env-cache"))


def no_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, a compile is a test failure: the program must come from the cache."""
    def fail(seccomp: object) -> BpfProgram:
        raise AssertionError("compiled instead of read from the cache")
    monkeypatch.setattr(sc, "compile_program", fail)


def entries(d: Path) -> list[str]:
    return sorted(os.listdir(d)) if d.exists() else []


def only_entry(d: Path) -> Path:
    names = entries(d)
    assert len(names) == 1 and names[0].endswith(".bpf"), names
    return d / names[0]


def test_hit_gives_the_same_program_as_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "cache"
    fresh = compile_program(PROFILE)
    miss = sc.cached_program(PROFILE, str(d))
    assert (miss.code, miss.flags) == (fresh.code, fresh.flags) and fresh.flags == 2
    entry = only_entry(d)
    assert entry.name == sc.cache_key(PROFILE) + ".bpf"
    assert (d.stat().st_mode & 0o777) == 0o700 and (entry.stat().st_mode & 0o777) == 0o600
    no_compile(monkeypatch)
    hit = sc.cached_program(PROFILE, str(d))
    assert (hit.code, hit.flags) == (fresh.code, fresh.flags)
    # the same object with its keys in another order is the same entry
    reordered = dict(reversed(list(PROFILE.items())))
    assert sc.cached_program(reordered, str(d)).code == fresh.code
    assert entries(d) == [entry.name]


def test_a_hit_loads_neither_ctypes_nor_libseccomp(tmp_path: Path) -> None:
    d = tmp_path / "cache"
    sc.cached_program(PROFILE, str(d))
    code = (
        "import sys\n"
        "from pyrkt.linux.seccomp_cache import cached_program\n"
        f"p = cached_program({PROFILE!r}, {str(d)!r})\n"
        "bad = 'ctypes' in sys.modules or 'hashlib' in sys.modules or 'json' in sys.modules\n"
        "print('bad' if bad or 'libseccomp' in open('/proc/self/maps').read() else p.code.hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == compile_program(PROFILE).code.hex()


def test_different_profiles_are_different_entries(tmp_path: Path) -> None:
    d = tmp_path / "cache"
    other = {**PROFILE, "flags": []}
    a, b = sc.cached_program(PROFILE, str(d)), sc.cached_program(other, str(d))
    assert (a.flags, b.flags) == (2, 0) and len(entries(d)) == 2
    assert sc.cached_program(other, str(d)).flags == 0


@pytest.mark.parametrize("damage", ["empty", "truncated-header", "not-whole-instructions", "cut-at-an-instruction",
                                    "bad-magic", "bad-checksum", "unknown-flags", "directory", "symlink"])
def test_a_damaged_entry_is_ignored_and_rewritten(tmp_path: Path, damage: str) -> None:
    d = tmp_path / "cache"
    good = sc.cached_program(PROFILE, str(d))
    entry = only_entry(d)
    data = entry.read_bytes()
    entry.unlink()
    if damage == "empty":
        entry.write_bytes(b"")
    elif damage == "truncated-header":
        entry.write_bytes(data[:20])
    elif damage == "not-whole-instructions":
        entry.write_bytes(data[:-3])
    elif damage == "cut-at-an-instruction":
        entry.write_bytes(data[:-8])
    elif damage == "bad-magic":
        entry.write_bytes(b"X" + data[1:])
    elif damage == "bad-checksum":
        entry.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "unknown-flags":
        entry.write_bytes(data[:8] + (1 << 20).to_bytes(4, "little") + data[12:])
    elif damage == "directory":
        entry.mkdir()
    elif damage == "symlink":
        target = tmp_path / "elsewhere.bpf"
        target.write_bytes(data)
        entry.symlink_to(target)
    again = sc.cached_program(PROFILE, str(d))
    assert (again.code, again.flags) == (good.code, good.flags)
    if damage == "directory":
        assert entry.is_dir()  # cannot be replaced by a rename; compiled every time, still right
        return
    assert not entry.is_symlink() and entry.read_bytes() == data  # rewritten, whole
    assert entries(d) == [entry.name]  # and no temporary file left behind


def _plant(d: Path, program: BpfProgram) -> None:
    """A well-formed entry for PROFILE holding another program."""
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sc.write_entry(fd, sc.cache_key(PROFILE), program)
    finally:
        os.close(fd)


@pytest.mark.parametrize("unsafe", ["group-writable", "other-writable", pytest.param("other-owner", marks=pytest.mark.root), "symlink", "a-file"])
def test_an_unsafe_directory_is_not_used(tmp_path: Path, unsafe: str) -> None:
    good = compile_program(PROFILE)
    bogus = compile_program({"defaultAction": ALLOW})
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    _plant(real, bogus)
    # sanity: a safe directory with that entry would hand out the planted program
    assert sc.cached_program(PROFILE, str(real)).code == bogus.code
    d = real
    if unsafe == "group-writable":
        real.chmod(0o770)
    elif unsafe == "other-writable":
        real.chmod(0o703)
    elif unsafe == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the directory away")
        os.chown(real, 65534, 65534)
    elif unsafe == "symlink":
        d = tmp_path / "link"
        d.symlink_to(real)
    elif unsafe == "a-file":
        d = tmp_path / "file"
        d.write_bytes(b"")
    before = {p: p.read_bytes() for p in real.iterdir()}
    prog = sc.cached_program(PROFILE, str(d))
    assert (prog.code, prog.flags) == (good.code, good.flags)  # compiled, not read
    assert {p: p.read_bytes() for p in real.iterdir()} == before  # and not written


def test_the_directory_is_created_on_demand(tmp_path: Path) -> None:
    d = tmp_path / "run" / "pyrkt" / "seccomp"
    sc.cached_program(PROFILE, str(d))
    assert only_entry(d)
    assert (d.stat().st_mode & 0o777) == 0o700 and (d.parent.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("profile, msg", [
    ({"defaultAction": "SCMP_ACT_BOGUS"}, "not a seccomp action"),
    ({"defaultAction": ALLOW, "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]},
     r"syscalls\[0\]\.args\[0\]\.index"),
    ({"defaultAction": ALLOW, "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}, "not supported by pyrkt"),
])
def test_a_bad_profile_is_never_cached(tmp_path: Path, profile: dict, msg: str) -> None:
    d = tmp_path / "cache"
    with pytest.raises(SeccompError, match=msg) as plain:
        compile_program(profile)
    for _ in range(2):  # the same error, the second time too
        with pytest.raises(SeccompError) as cached:
            sc.cached_program(profile, str(d))
        assert str(cached.value) == str(plain.value)
        assert entries(d) == []


def test_environment_override_and_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "from-env"
    monkeypatch.setenv(sc.ENV, str(d))
    sc.cached_program(PROFILE)
    assert only_entry(d)
    monkeypatch.setenv(sc.ENV, "")  # set but empty: no cache at all
    monkeypatch.setattr(sc, "_open_dir", lambda *a: pytest.fail("cache used while disabled"))
    assert sc.cached_program(PROFILE).code == compile_program(PROFILE).code
    assert sc.cached_program(PROFILE, "").code == compile_program(PROFILE).code


def test_objects_json_cannot_tell_apart_are_not_cached(tmp_path: Path) -> None:
    """A tuple serialises like a list, but validation refuses it: such an object is
    compiled (and refused) every time, never served from the list's entry."""
    d = tmp_path / "cache"
    listed = {"defaultAction": ALLOW, "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}
    sc.cached_program(listed, str(d))
    tupled = {"defaultAction": ALLOW, "syscalls": [{"names": ("getppid",), "action": "SCMP_ACT_ERRNO"}]}
    assert sc.cache_key(tupled) is None
    with pytest.raises(SeccompError, match="names must be a non-empty list"):
        sc.cached_program(tupled, str(d))


def test_concurrent_writers_of_one_entry(tmp_path: Path) -> None:
    """Many processes missing on the same key at once: each gets the right program,
    one whole entry remains, no temporary file is left."""
    d = tmp_path / "cache"
    d.mkdir(mode=0o700)
    code = f"from pyrkt.linux.seccomp_cache import cached_program\nprint(cached_program({PROFILE!r}, {str(d)!r}).code.hex())\n"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    want = compile_program(PROFILE).code
    assert all(p.returncode == 0 for p in procs) and set(outs) == {want.hex()}
    entry = only_entry(d)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = sc.read_entry(fd, entry.name[:-4])
    finally:
        os.close(fd)
    assert got is not None and got.code == want


NOTIFY_PROFILE = {"defaultAction": ALLOW, "listenerPath": "/run/agent.sock", "listenerMetadata": "m",
                  "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}


def test_a_notify_program_keeps_its_listener_flag_on_a_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SECCOMP_FILTER_FLAG_NEW_LISTENER is in the entry: a hit loads the filter with its listener, as a miss does."""
    d = tmp_path / "cache"
    miss = sc.cached_program(NOTIFY_PROFILE, str(d))
    assert miss.flags == 8
    only_entry(d)
    no_compile(monkeypatch)
    hit = sc.cached_program(NOTIFY_PROFILE, str(d))
    assert (hit.code, hit.flags) == (miss.code, miss.flags)
    # another agent's socket is another entry (a hit validates nothing); without one, refused and never cached
    monkeypatch.undo()
    monkeypatch.setenv(sc.ENV, str(tmp_path / "env-cache"))
    sc.cached_program({**NOTIFY_PROFILE, "listenerPath": "/run/other.sock"}, str(d))
    assert len(entries(d)) == 2
    with pytest.raises(SeccompError, match="listenerPath is not set"):
        sc.cached_program({k: v for k, v in NOTIFY_PROFILE.items() if k != "listenerPath"}, str(d))
    assert len(entries(d)) == 2
