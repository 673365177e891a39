"""The bounded server soak (issue 25): a reduced ``benchmark.remote_load.soak`` against a real
``mgie-desktop serve`` on the tiny models, held to the targets docs/PERFORMANCE.md states.
It lasts about as long as the server's 30 s header timeout, which its stalled clients wait out."""

from __future__ import annotations

import time

from mgie_desktop.benchmark.remote_load import SOAK_MIX, soak, soak_units


def test_a_reduced_soak_meets_every_target(tiny_models):
    started = time.monotonic()
    report = soak(tiny_models, requests=40, clients=8, queue=4)
    shown = {
        key: report[key]
        for key in ("targets", "errors", "refused", "answers", "memory_mb", "stop", "server_log")
    }
    assert report["passed"], shown
    assert report["served"] + sum(report["refused"].values()) == 40 and not report["errors"], shown
    assert set(report["answers"]) == set(SOAK_MIX), shown  # every kind of client was in it
    assert report["answers"]["stalled"] == {"cut": 2} and report["answers"]["slow"] == {"200": 4}, shown
    assert time.monotonic() - started < 90


def test_bursts_are_sent_together_and_in_the_mix_order():
    kinds = [SOAK_MIX[i % len(SOAK_MIX)] for i in range(40)]
    units = soak_units(kinds, burst=7)
    assert [count for kind, count in units if kind == "burst"] == [7, 1]
    assert sum(count for _kind, count in units) == 40 - kinds.count("stalled")
    assert units[:4] == [("info", 1), ("edit", 1), ("malformed", 1), ("info", 1)]
