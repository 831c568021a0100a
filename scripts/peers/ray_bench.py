"""The same measurements as hoist-bench, for Ray on this machine: prints one JSON object.

    python3 ray_bench.py --calls 5000 --seconds 3 --callers 32 --map 10000
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

import ray


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--map", type=int, default=10000)
    args = parser.parse_args()

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")

    @ray.remote
    def add(a: int, b: int) -> int:
        return a + b

    for i in range(500):
        ray.get(add.remote(i, 1))

    latencies = []
    for i in range(args.calls):
        start = time.perf_counter()
        assert ray.get(add.remote(i, 1)) == i + 1
        latencies.append(time.perf_counter() - start)
    latencies.sort()

    # 32 callers, each waiting for its own call before the next, as in hoist-bench.
    deadline = time.perf_counter() + args.seconds
    counts = [0] * args.callers

    def caller(index: int) -> None:
        while time.perf_counter() < deadline:
            ray.get(add.remote(index, counts[index]))
            counts[index] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(args.callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    throughput = sum(counts) / (time.perf_counter() - start)

    start = time.perf_counter()
    results = ray.get([add.remote(i, 1) for i in range(args.map)])
    map_seconds = time.perf_counter() - start
    assert results[-1] == args.map

    print(json.dumps({
        "peer": "ray " + ray.__version__,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[len(latencies) * 99 // 100] * 1000,
        "calls_per_second": throughput,
        "map_seconds": map_seconds,
    }))
    ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
