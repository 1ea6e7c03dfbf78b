"""How the long-lived peer scripts (matmul_numpy.py, scaling.py) time a
call and hand the cores back: the same sampling as xtask's own side
(`report::calls_per_sample`, `report::samples_within`), so both sides'
figures are medians of samples of the same length."""

import argparse
import importlib
import json
import time


def reply(value):
    """One JSON line on stdout, flushed: xtask waits for it."""
    print(json.dumps(value), flush=True)


def start_peer(framework):
    """The start of a long-lived peer: its `--threads` and the framework's
    module, imported; or, when it is missing, None after replying
    {"skipped": ...} (xtask then measures our side alone)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    try:
        return args, importlib.import_module(framework)
    except ImportError as e:
        reply({"skipped": f"{framework} is not installed ({e})"})
        return args, None


def settle():
    """Waits until the framework's idle threads stop spinning.

    After a call OpenBLAS's threads spin for ~0.1 s (measured here) before
    sleeping, and OpenMP's (PyTorch's) likewise; our turn starts when the
    script replies, and would otherwise share the cores with them.
    """
    deadline = time.perf_counter() + 1.0
    while time.perf_counter() < deadline:
        cpu = time.process_time()
        time.sleep(0.005)
        if time.process_time() - cpu < 0.001:
            return


def calls_per_sample(call, sample_seconds, now=time.perf_counter):
    """How many calls of `call` take about `sample_seconds` on the clock
    `now`, timed warm over ~2 ms after one untimed call (which pays for cold
    caches and pages)."""
    call()
    calls, start = 0, now()
    while calls == 0 or now() - start < 0.002:
        call()
        calls += 1
    once = max((now() - start) / calls, 1e-7)
    return max(1, int(sample_seconds / once))


def timed_samples(call, calls, warmup, samples):
    """Seconds per call of `samples` samples of `calls` calls, after
    `warmup` untimed samples."""
    times = []
    for index in range(warmup + samples):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        if index >= warmup:
            times.append((time.perf_counter() - start) / calls)
    return times


def samples_within(call, calls, budget_seconds, min_samples, now=time.perf_counter):
    """Seconds per call on the clock `now` of samples of `calls` calls, as
    many as fit in `budget_seconds` but at least `min_samples`."""
    times, start = [], now()
    while len(times) < max(1, min_samples) or now() - start < budget_seconds:
        sample = now()
        for _ in range(calls):
            call()
        times.append((now() - sample) / calls)
    return times
