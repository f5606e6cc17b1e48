from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyrkt.linux import syscalls as sc
from pyrkt.linux.mounts import MountOptionError, PathEscapeError, mkdir_all_in_root, parse_options, resolve_in_root


def test_parse_flags_data_and_propagation() -> None:
    o = parse_options(["nosuid", "noexec", "nodev", "ro", "mode=755", "size=65536k", "rslave"])
    assert o.flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV | sc.MS_RDONLY
    assert o.data == "mode=755,size=65536k"
    assert o.propagation == [sc.MS_SLAVE | sc.MS_REC]
    assert not o.is_bind


def test_later_option_wins() -> None:
    assert parse_options(["ro", "rw"]).flags & sc.MS_RDONLY == 0
    assert parse_options(["nosuid", "suid"]).flags & sc.MS_NOSUID == 0
    assert parse_options(["rw", "ro"]).flags & sc.MS_RDONLY


def test_bind_forms() -> None:
    assert parse_options(["bind"]).flags == sc.MS_BIND
    assert parse_options(["rbind", "ro"]).flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY
    assert parse_options(["rbind"]).is_bind


def test_extensions_are_not_data() -> None:
    o = parse_options(["tmpcopyup", "mode=1777"])
    assert o.data == "mode=1777"
    assert "tmpcopyup" in o.extensions


def test_recursive_attributes() -> None:
    opts = parse_options(["rbind", "rro", "rnosuid", "rsuid", "rnoatime"])
    assert (opts.rattr_set, opts.rattr_clr) == (0x1 | 0x10, 0x2 | 0x70)  # the last of rnosuid/rsuid wins
    assert opts.data == ""
    with pytest.raises(MountOptionError, match="ratime"):
        parse_options(["ratime"])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "usr" / "lib").mkdir(parents=True)
    return r


def test_plain_and_missing(root: Path) -> None:
    assert resolve_in_root(str(root), "/etc") == f"{root}/etc"
    assert resolve_in_root(str(root), "/etc/missing/deeper") == f"{root}/etc/missing/deeper"
    assert resolve_in_root(str(root), "/") == str(root)


def test_dotdot_stays_inside(root: Path) -> None:
    assert resolve_in_root(str(root), "/../../../etc") == f"{root}/etc"
    assert resolve_in_root(str(root), "etc/../../usr") == f"{root}/usr"


def test_absolute_symlink_is_rooted(root: Path) -> None:
    (root / "lib").symlink_to("/usr/lib")
    (root / "escape").symlink_to("/")
    (root / "up").symlink_to("../../../../..")
    assert resolve_in_root(str(root), "/lib/x") == f"{root}/usr/lib/x"
    assert resolve_in_root(str(root), "/escape/etc") == f"{root}/etc"
    assert resolve_in_root(str(root), "/up/etc") == f"{root}/etc"


def test_symlink_loop(root: Path) -> None:
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(PathEscapeError, match="too many levels"):
        resolve_in_root(str(root), "/a/x")


def test_mkdir_all_through_symlink_stays_inside(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "proc").symlink_to(str(outside))
    made = mkdir_all_in_root(str(root), "/proc/self")
    assert made == f"{root}{outside}/self"
    assert os.path.isdir(made)
    assert not (outside / "self").exists()


# ---- the mount operations: options in one place, values compare by their fields ----


def test_overlay_options_put_the_top_layer_first() -> None:
    from pyrkt.linux.mounts import Overlay

    op = Overlay("/r", ["/bottom", "/mid", "/top"], "/u", "/w")
    assert op.options() == "lowerdir=/top:/mid:/bottom,upperdir=/u,workdir=/w"
    assert Overlay("/r", ["/l"], "/u", "/w", volatile=True).options() == "lowerdir=/l,upperdir=/u,workdir=/w,volatile"
    assert Overlay("/r", ["/l"], "/u", "/w", volatile=True).options(volatile=False) == "lowerdir=/l,upperdir=/u,workdir=/w"


def test_operations_compare_by_type_and_fields() -> None:
    from pyrkt.linux.mounts import Bind, Cgroup, Cgroup2, Symlink, Tmpfs

    assert Tmpfs("/a") == Tmpfs("/a", "mode=755", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    assert Tmpfs("/a") != Tmpfs("/a", "mode=700")
    assert Cgroup2("/a") != Tmpfs("/a")  # same fields (dest), another operation
    assert Bind("/s", "/d") != Bind("/s", "/d", recursive=False)
    assert len({Cgroup("/a", "cpu"), Cgroup("/a", "cpu"), Symlink("cpu", "/a")}) == 2
    assert repr(Bind("/s", "/d")) == "Bind('/d', '/s', True)"


def test_symlink_apply_leaves_an_existing_entry(tmp_path: Path) -> None:
    from pyrkt.linux.mounts import Symlink

    Symlink("cpu,cpuacct", str(tmp_path / "cpu")).apply()
    assert os.readlink(tmp_path / "cpu") == "cpu,cpuacct"
    Symlink("other", str(tmp_path / "cpu")).apply()
    assert os.readlink(tmp_path / "cpu") == "cpu,cpuacct"
