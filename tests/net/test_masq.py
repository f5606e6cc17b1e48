"""pyrkt.net.masq's rule, added by iptables and deleted from nf_tables directly (pyrkt.net.nft).

Only rules are listed and changed (nat/POSTROUTING, addresses no pod has,
comments naming this test); no packet is sent.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from pyrkt.net import masq, nft


def nat() -> str:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def pod_id():  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if "nf_tables" not in subprocess.run(["iptables", "--version"], capture_output=True, text=True).stdout:
        pytest.skip("iptables is not iptables-nft")
    uid = "pyrkt-masq-test-" + os.urandom(4).hex()
    yield uid
    for line in nat().splitlines():  # whatever the test left
        if uid in line and line.startswith("-A "):
            subprocess.run(["iptables", "-t", "nat", "-D", *line[3:].split()], capture_output=True)


def test_the_rule_goes_from_nf_tables_and_only_that_rule(pod_id) -> None:  # type: ignore[no-untyped-def]
    default = masq.rule("172.16.28.250", "172.16.28.0/24", pod_id, "default")
    # the same pod id on a network whose name continues the other's: its comment must not match
    other = masq.rule("172.16.28.251", "172.16.28.0/24", pod_id, "default-restricted")
    masq.add(default)
    masq.add(other)
    text = nat()
    assert f"-s 172.16.28.250/32 ! -d 172.16.28.0/24 -m comment --comment \"rkt pod {pod_id} network default\" -j MASQUERADE" in text
    pending = masq.start_delete(default)
    assert pending is True  # deleted from nf_tables at once, no iptables run
    assert masq.finish_delete(pending, default) is None
    text = nat()
    assert "172.16.28.250/32" not in text and f"rkt pod {pod_id} network default-restricted" in text
    # idempotent: a second delete finds nothing in nf_tables and falls back to iptables, which finds nothing
    again = masq.start_delete(default)
    assert again is not True and masq.finish_delete(again, default) is None
    assert not nft.delete_by_comment("nat", "POSTROUTING", f"rkt pod {pod_id} network default")
    assert masq.finish_delete(masq.start_delete(other), other) is None
    assert pod_id not in nat()
