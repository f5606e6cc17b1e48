"""The API and metadata services' pure parts: filters, event diffs, log times, route parsing, annotations."""

from __future__ import annotations

import os
from types import SimpleNamespace as NS

from pyrkt.pod.mds import _hex_ip
from pyrkt.service import events as ev
from pyrkt.service.filters import any_filter, image_matches, pod_matches
from pyrkt.service.imageview import ImageView
from pyrkt.service.logs import read_lines, select
from pyrkt.service.podview import AppView, PodView, locked_inodes


def _pod(uuid: str = "a" * 36, state: str = "running", **kw) -> PodView:  # type: ignore[no-untyped-def]
    base = dict(uuid=uuid, directory="run", state=state, pid=1, created=1.0, started=2.0, gc_marked=None, manifest=b"{}",
                annotations=[("k", "v"), ("x", "y")], apps=[AppView("web", "sha512-1", "n", "1", [], None)],
                networks=["default"], cgroup=f"/rkt-{uuid}")
    base.update(kw)
    return PodView(**base)  # type: ignore[arg-type]


def _pf(**kw) -> NS:  # type: ignore[no-untyped-def]
    f = dict(ids=[], states=[], app_names=[], image_ids=[], network_names=[], annotations=[], cgroups=[], pod_sub_cgroups=[])
    f.update(kw)
    return NS(**f)


def test_pod_filter_fields_and_combination() -> None:
    p = _pod()
    kv = lambda k, v: NS(Key=k, value=v)  # noqa: E731
    assert pod_matches(p, _pf(annotations=[kv("k", "v"), kv("x", "y")]))
    assert not pod_matches(p, _pf(annotations=[kv("k", "v"), kv("x", "z")]))  # all of
    assert pod_matches(p, _pf(network_names=["default"])) and not pod_matches(p, _pf(network_names=["default", "other"]))
    assert pod_matches(p, _pf(pod_sub_cgroups=[f"/rkt-{'a' * 36}-web/child"]))
    assert not pod_matches(p, _pf(pod_sub_cgroups=[f"/rkt-{'a' * 36}web"]))
    assert not pod_matches(_pod(cgroup=""), _pf(pod_sub_cgroups=["/"]))
    assert pod_matches(p, _pf(states=[4], ids=[p.uuid])) and not pod_matches(p, _pf(states=[6], ids=[p.uuid]))
    assert any_filter(p, [], pod_matches) and any_filter(p, [_pf(states=[6]), _pf(states=[4])], pod_matches)


def test_image_filter_base_name_and_keywords() -> None:
    img = ImageView("sha512-1", "coreos.com/etcd", "2", 100.0, 1, b"{}", [("version", "2")], [("a", "b")], 1, "0.8.11", True, "coreos.com/etcd:2")
    f = dict(ids=[], prefixes=[], base_names=[], keywords=[], labels=[], imported_after=0, imported_before=0, annotations=[], full_names=[])
    m = lambda **kw: image_matches(img, NS(**{**f, **kw}))  # noqa: E731
    assert m(base_names=["etcd"]) and not m(base_names=["etcd-backup"]) and m(keywords=["tcd"])
    assert m(imported_after=99) and not m(imported_after=100) and m(imported_before=101) and not m(imported_before=100)
    assert m(annotations=[NS(Key="a", value="b")]) and not m(annotations=[NS(Key="a", value="c")])


def test_events_for_a_whole_life_between_two_snapshots() -> None:
    before = ev.snapshot([], [])
    done = _pod(state="exited", apps=[AppView("web", "i", "n", "", [], 0)])
    after = ev.snapshot([done], [])
    types = [(e.type, e.name) for e in ev.diff(before, after)]
    assert types == [(ev.POD_STARTED, done.uuid), (ev.APP_STARTED, "web"), (ev.APP_EXITED, "web"), (ev.POD_EXITED, done.uuid)]
    assert ev.diff(after, after) == []
    gone = ev.diff(after, ev.snapshot([], []))
    assert [e.type for e in gone] == [ev.POD_GARBAGE_COLLECTED]
    # an exited pod moved to exited-garbage is no new event
    assert ev.diff(after, ev.snapshot([_pod(state="exited garbage", apps=done.apps)], [])) == []


def test_log_lines_take_their_chunk_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "log"
    log.write_bytes(b"a\nb\nc\npartial")
    (tmp_path / "log.times").write_text("0 10.0\n4 20.0\n99 torn")
    lines, end = read_lines(str(log), "app")
    assert [(ln.text, ln.time) for ln in lines] == [("a", 10.0), ("b", 10.0), ("c", 20.0), ("partial", 20.0)]
    complete, end2 = read_lines(str(log), "app", complete_only=True)
    assert [ln.text for ln in complete] == ["a", "b", "c"] and end2 == 6 and end == len(log.read_bytes())
    assert [ln.text for ln in select(lines, since=20)] == ["c", "partial"]
    assert [ln.text for ln in select(lines, until=20)] == ["a", "b"]
    assert [ln.text for ln in select(lines, last=1)] == ["partial"]
    assert read_lines(str(tmp_path / "missing"), "x") == ([], 0)


def test_proc_locks_and_routes_parsing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    locks = tmp_path / "locks"
    locks.write_text("1: FLOCK  ADVISORY  WRITE 99 fd:01:1234 0 EOF\n1: -> FLOCK  ADVISORY  WRITE 98 fd:01:555 0 EOF\n"
                     "2: POSIX  ADVISORY  WRITE 97 fd:01:777 0 EOF\n")
    assert locked_inodes(str(locks)) == {(0xFD, 1, 1234)}
    assert locked_inodes(str(tmp_path / "none")) == set()
    assert _hex_ip("0101E70A") == "10.231.1.1"
    assert os.path.exists("/proc/locks")
