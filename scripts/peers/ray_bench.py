"""The same measurements as hoist-bench, for Ray on this machine: prints one JSON object.

    python3 ray_bench.py --calls 5000 --seconds 3 --callers 32 --map 10000
"""
import json
import os
import sys

import ray

import measure


def main() -> None:
    args = measure.options()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")

    @ray.remote
    def add(a: int, b: int) -> int:
        return a + b

    @ray.remote
    def echo(text: str) -> str:
        return text

    figures = measure.measure(
        "ray " + ray.__version__,
        call=lambda a, b: ray.get(add.remote(a, b)),
        # The map: every call submitted, then all results awaited.
        map_all=lambda inputs: ray.get([add.remote(i, 1) for i in inputs]),
        calls=args.calls, seconds=args.seconds, callers=args.callers, map_inputs=args.map, warm_up=500,
        echo=lambda text: ray.get(echo.remote(text)),
    )
    print(json.dumps(figures))
    ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
