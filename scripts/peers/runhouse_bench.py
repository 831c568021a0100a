"""The same measurements as hoist-bench, for Runhouse on this machine: prints one JSON object.

    python3 runhouse_bench.py --calls 5000 --seconds 3 --callers 32 --map 10000

Runhouse's local daemon is its HTTP server (`runhouse.servers.http.http_server`) on top of a Ray
head node. `runhouse server start` would do both, but it first runs `pkill -f` on every Ray and
Runhouse server on the machine, so this script starts the two itself, on free ports, with a home
and a Ray temp dir of its own, and at the end stops exactly the processes it started (and their
children), by pid. `add` is sent to that daemon with `rh.function(add).to(cluster)` and called
over HTTP as a Runhouse client calls a cluster. The code is on the same machine, so
`sync_local=False`: the server imports this file from where it is (syncing would rsync over SSH).

Runhouse is slower per call than the others, so the latency and map counts are capped (the JSON
says what was used: "calls", "map_inputs").
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import measure

LATENCY_CALLS_CAP = 1000
MAP_INPUTS_CAP = 10000


def add(a: int, b: int) -> int:
    return a + b


def echo(text: str) -> str:
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalDaemon:
    """A Ray head node and a Runhouse HTTP server that this process started and alone stops."""

    def __init__(self) -> None:
        # Short: Ray's socket paths live under its temp dir and must fit in 107 bytes.
        self.home = tempfile.mkdtemp(prefix="rhb-", dir="/tmp")
        self.ray_port, self.dashboard_port, self.server_port = free_port(), free_port(), free_port()
        self.env = dict(os.environ, HOME=self.home, RAY_ADDRESS=f"127.0.0.1:{self.ray_port}",
                        RH_LOG_LEVEL="WARNING", RAY_USAGE_STATS_ENABLED="0",
                        # The map runs `add` in Ray workers, which import it from this file.
                        PYTHONPATH=os.pathsep.join(filter(None, [os.path.dirname(os.path.abspath(__file__)),
                                                                  os.environ.get("PYTHONPATH")])))
        self.processes: list[subprocess.Popen] = []
        self.failed = False

    def start(self) -> None:
        bin_dir = os.path.dirname(sys.executable)
        # The state API (dashboard) is needed: the server lists and kills its actors at start.
        self.spawn("ray", [os.path.join(bin_dir, "ray"), "start", "--head", "--block",
                           "--port", str(self.ray_port), "--temp-dir", os.path.join(self.home, "ray"),
                           "--num-cpus", str(os.cpu_count()), "--disable-usage-stats",
                           "--include-dashboard=true", "--dashboard-host", "127.0.0.1",
                           "--dashboard-port", str(self.dashboard_port)])
        self.wait_for(lambda: subprocess.run([os.path.join(bin_dir, "ray"), "status"], env=self.env,
                                             capture_output=True).returncode == 0, "Ray head node")
        self.spawn("server", [sys.executable, "-m", "runhouse.servers.http.http_server",
                              "--host", "127.0.0.1", "--port", str(self.server_port)])
        self.wait_for(self.server_listens, "Runhouse server")

    def spawn(self, name: str, command: list[str]) -> None:
        log = open(os.path.join(self.home, name + ".log"), "w")
        self.processes.append(subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True))

    def wait_for(self, ready, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"{what} did not start: a process exited (logs in {self.home})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start in {timeout:.0f} s (logs in {self.home})")
            time.sleep(0.25)

    def server_listens(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.server_port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        import psutil

        # Ray's workers run in sessions of their own: find every descendant before stopping any.
        started = []
        for process in self.processes:
            try:
                root = psutil.Process(process.pid)
                started += [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for process in started:
            try:
                process.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(started, timeout=5)
        for process in alive:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.failed:
            print(f"runhouse_bench: logs kept in {self.home}", file=sys.stderr)
        else:
            shutil.rmtree(self.home, ignore_errors=True)


def main() -> None:
    args = measure.options()
    calls = min(args.calls, LATENCY_CALLS_CAP)
    map_inputs = min(args.map, MAP_INPUTS_CAP)

    # A SIGTERM (hoist-bench interrupted) still stops the daemon.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    daemon = LocalDaemon()
    try:
        daemon.start()
        # The client's config (~/.rh) goes to the private home too.
        os.environ.update(HOME=daemon.home, RH_LOG_LEVEL="ERROR")
        import runhouse as rh

        cluster = rh.cluster(name="hoist-bench-local", host="localhost", server_connection_type="none",
                             server_port=daemon.server_port, load_from_den=False)
        remote = rh.function(add).to(cluster, sync_local=False)
        remote_echo = rh.function(echo).to(cluster, sync_local=False)

        figures = measure.measure(
            "runhouse " + rh.__version__,
            # stream_logs=False: by default each call also opens a log stream, up to 0.5 s more.
            call=lambda a, b: remote(a, b, stream_logs=False),
            # Function.map: one request; the daemon fans the inputs out as Ray tasks.
            map_all=lambda inputs: remote.map(inputs, [1] * len(inputs), stream_logs=False),
            calls=calls, seconds=args.seconds, callers=args.callers, map_inputs=map_inputs, warm_up=200,
            echo=lambda text: remote_echo(text, stream_logs=False),
        )
        print(json.dumps(figures))
    except BaseException:
        daemon.failed = True
        raise
    finally:
        daemon.stop()


if __name__ == "__main__":
    sys.exit(main())
