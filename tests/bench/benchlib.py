"""Shared by the benchmark modules of tests/bench/run.

A module appends its rows with row(); tests/bench/run prints them as one
table and keeps them in a results file. Every row has our figure, the
ceiling measured in the same run, the ratio, and the target it is held to.
"""
import json
import os


def row(path, name, ours, ceiling, unit, target=None, met=None, note=""):
    """Appends one row to the JSON-lines file path.
    target: words, e.g. ">= 50 % of nginx"; met: True/False/None (no
    target). ceiling may be None where there is nothing to compare with
    (then the ratio is empty)."""
    r = {"name": name, "ours": ours, "ceiling": ceiling, "unit": unit,
         "ratio": (ours / ceiling) if ours is not None and ceiling else None,
         "target": target, "met": met, "note": note}
    with open(path, "a") as f:
        f.write(json.dumps(r) + "\n")
    return r


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    if not v:
        return None
    return v[min(len(v) - 1, int(len(v) * p / 100.0))]


def rss_kib(pid):
    """VmRSS of pid in KiB, None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))
