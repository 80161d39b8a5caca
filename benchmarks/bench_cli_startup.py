"""How long `billing --help` (and `billing worker --help`) take to start, as a user types them.

Wall and CPU time (user + system of the child, which a loaded machine inflates less) over
`--runs` runs, median and best, with bytecode caching and without it (PYTHONDONTWRITEBYTECODE=1
and a fresh PYTHONPYCACHEPREFIX, as on a read-only install). Issue 17's target: ≤ 0.3 s for
`billing --help`. Nothing here asserts a time.

    uv run python -m benchmarks.bench_cli_startup [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BILLING = str(Path(sys.executable).parent / "billing")


def _run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([BILLING, *args], env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(args: list[str], runs: int, *, cached: bool) -> str:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as prefix:
        if not cached:
            env |= {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": prefix}
        samples = [_run_once(args, env) for _ in range(runs)]
    walls = [wall for wall, _cpu in samples]
    cpus = [cpu for _wall, cpu in samples]
    return (
        f"billing {' '.join(args):<15} {'cached' if cached else 'no .pyc':<8} "
        f"wall median {statistics.median(walls):.3f} s, best {min(walls):.3f} s; "
        f"CPU median {statistics.median(cpus):.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    print(f"{runs} runs each, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for args in (["--help"], ["worker", "--help"]):
        _run_once(args, dict(os.environ))  # warm the bytecode cache
        for cached in (True, False):
            print(measure(args, runs, cached=cached), flush=True)


if __name__ == "__main__":
    main()
