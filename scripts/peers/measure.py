"""The measurements hoist-bench makes, for a peer's `add(a, b)`: shared by the peer scripts.

A peer script parses the options, makes a `call(a, b)` and a `map(inputs)` for its system, and
prints `json.dumps(measure(...))` as its one line of output.
"""
import argparse
import threading
import time
from typing import Callable, List, Optional


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--map", type=int, default=10000)
    return parser.parse_args()


ECHO_BYTES = 64 << 20


def measure(peer: str, call: Callable[[int, int], int], map_all: Callable[[List[int]], List[int]],
            calls: int, seconds: float, callers: int, map_inputs: int, warm_up: int,
            echo: Optional[Callable[[str], str]] = None) -> dict:
    for i in range(warm_up):
        call(i, 1)

    latencies = []
    for i in range(calls):
        start = time.perf_counter()
        assert call(i, 1) == i + 1
        latencies.append(time.perf_counter() - start)
    latencies.sort()

    # Concurrent callers, each waiting for its own call before the next, as in hoist-bench.
    deadline = time.perf_counter() + seconds
    counts = [0] * callers

    def caller(index: int) -> None:
        while time.perf_counter() < deadline:
            call(index, counts[index])
            counts[index] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    throughput = sum(counts) / (time.perf_counter() - start)

    start = time.perf_counter()
    results = map_all(list(range(map_inputs)))
    map_seconds = time.perf_counter() - start
    assert len(results) == map_inputs and results[-1] == map_inputs

    # A 64 MB string sent and returned, as hoist-bench's echo row: the median of three.
    echo_seconds = None
    echo_error = None
    if echo is not None:
        payload = "a" * ECHO_BYTES
        try:
            assert echo("warm") == "warm"
            times = []
            for _ in range(3):
                start = time.perf_counter()
                back = echo(payload)
                times.append(time.perf_counter() - start)
                assert len(back) == ECHO_BYTES
            echo_seconds = sorted(times)[1]
        except Exception as error:  # reported in the JSON, not fatal to the other figures
            echo_error = f"{type(error).__name__}: {error}"[:300]

    return {
        "peer": peer,
        "echo64_seconds": echo_seconds,
        "echo64_error": echo_error,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[len(latencies) * 99 // 100] * 1000,
        "calls_per_second": throughput,
        "map_seconds": map_seconds,
        "calls": calls,
        "map_inputs": map_inputs,
    }
