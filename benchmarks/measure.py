"""Timing and memory helpers shared by the benchmarks."""

import statistics
import time


def timed(function, runs):
    """(median seconds of ``runs`` calls after a warm-up call, warm-up seconds)."""
    start = time.perf_counter()
    function()
    warm_up = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), warm_up


def peak_rss_mb() -> float:
    """This process's peak resident set size (``VmHWM``, MB) since its ``exec``."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
