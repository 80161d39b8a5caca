"""`make bench`: run every benchmark script with its default set-up, one after the other.

Each script prints its own set-up and figures; see its docstring. Nothing here asserts a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = sorted(
    path.stem for path in Path(__file__).parent.glob("bench_*.py") if path.is_file()
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== benchmarks.{name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
