"""What the installed nnhealth plugin costs a pytest run that does not use it.

Runs ``pytest --co -q`` on a tiny test directory with the plugin loaded and with
``-p no:nnhealth``, interleaved (so machine load affects both alike), and prints the
medians and their difference. The budget is 30 ms.

    .venv/bin/python bench/plugin_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_MS = 30.0


def run_once(directory: Path, extra: list[str]) -> float:
    command = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
    started = time.perf_counter()
    subprocess.run(
        [*command, *extra],
        cwd=directory,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return (time.perf_counter() - started) * 1000


def measure(runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        (directory / "test_tiny.py").write_text("def test_one():\n    pass\n")
        (directory / "pytest.ini").write_text("[pytest]\n")
        run_once(directory, [])  # warm the file system cache and .pyc files
        with_plugin, without = [], []
        for _ in range(runs):
            with_plugin.append(run_once(directory, []))
            without.append(run_once(directory, ["-p", "no:nnhealth"]))
    return statistics.median(with_plugin), statistics.median(without)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    loaded, disabled = measure(args.runs)
    delta = loaded - disabled
    print(f"pytest --co -q, median of {args.runs} interleaved runs each")
    print(f"  with nnhealth plugin : {loaded:7.1f} ms")
    print(f"  -p no:nnhealth       : {disabled:7.1f} ms")
    verdict = "within" if delta <= BUDGET_MS else "OVER"
    budget = f"{verdict} the {BUDGET_MS:.0f} ms budget"
    print(f"  plugin cost          : {delta:7.1f} ms ({budget})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
