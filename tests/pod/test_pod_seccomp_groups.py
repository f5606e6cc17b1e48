"""rkt's seccomp groups and isolator rules, as pure functions (no root)."""

from __future__ import annotations

import errno

import pytest

from pyrkt.pod.seccomp_groups import GROUP_NAMES, REMOVE, RETAIN, SeccompSetError, default_plan, group, plan_for


def iso(name: str, items: list[str], errno_name: str | None = None) -> list[dict[str, object]]:
    value: dict[str, object] = {"set": items}
    if errno_name:
        value["errno"] = errno_name
    return [{"name": name, "value": value}]


def test_every_documented_group_expands() -> None:
    for name in GROUP_NAMES:
        if name.startswith("@appc.io/"):
            continue
        assert group(name), name
    assert "reboot" in group("@rkt/default-blacklist") and "mount" in group("@docker/default-blacklist")
    assert "sethostname" not in group("@rkt/default-whitelist") and "rseq" in group("@rkt/default-whitelist")
    assert set(group("@systemd/clock")) >= {"settimeofday", "clock_settime", "adjtimex"}
    assert {"unshare", "setns", "clone"} <= set(group("@systemd/process"))


def test_default_is_retain_default_whitelist_killing() -> None:
    oci = plan_for([]).to_oci()
    assert oci is not None and oci["defaultAction"] == "SCMP_ACT_KILL_PROCESS"
    assert oci["syscalls"][0]["action"] == "SCMP_ACT_ALLOW" and "read" in oci["syscalls"][0]["names"]
    assert plan_for([], insecure=True).to_oci() is None


def test_remove_set_with_errno() -> None:
    oci = plan_for(iso(REMOVE, ["@rkt/default-blacklist", "socket"], "ENOTSUP")).to_oci()
    assert oci is not None and oci["defaultAction"] == "SCMP_ACT_ALLOW"
    rule = oci["syscalls"][0]
    assert rule["action"] == "SCMP_ACT_ERRNO" and rule["errnoRet"] == errno.ENOTSUP and "socket" in rule["names"] and "reboot" in rule["names"]


def test_retain_set_errno_is_the_default_errno() -> None:
    oci = plan_for(iso(RETAIN, ["@systemd/default-whitelist", "write"], "EPERM")).to_oci()
    assert oci is not None and oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == errno.EPERM


def test_appc_wildcards_as_rkt() -> None:
    assert plan_for(iso(RETAIN, ["@appc.io/all"])).to_oci() is None
    assert plan_for(iso(REMOVE, ["@appc.io/empty"])) == default_plan()
    assert plan_for(iso(REMOVE, ["@appc.io/all"])) == default_plan()


@pytest.mark.parametrize("isolators", [
    iso(REMOVE, ["@rkt/unknown"]),
    iso(REMOVE, ["Chmod"]),
    iso(REMOVE, ["chmod"], "ENOPE"),
    iso(REMOVE, []),
    iso(REMOVE, ["chmod"]) + iso(RETAIN, ["chmod"]),
])
def test_bad_sets(isolators: list[dict[str, object]]) -> None:
    with pytest.raises(SeccompSetError):
        plan_for(isolators)


def test_whitelist_compiles_with_libseccomp() -> None:
    from pyrkt.linux.seccomp import compile_filter

    oci = default_plan().to_oci()
    assert oci is not None
    compile_filter(oci).release()
