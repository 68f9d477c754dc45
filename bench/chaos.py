#!/usr/bin/env python3
"""The chaos suite (tests/chaos) as a bench: every fault case on pod-like units of the real
charm, its figures printed as JSON lines so that runs can be compared over time.

One line per case and run, as the case measured it:
  {"bench": "chaos", "fault", "units", "writes_again_s", "all_serving_after_s",
   "acknowledged_writes", "acknowledged_updates", "unknown_updates", "max_write_gap_s",
   "statuses": {"during", "after"}, and what a case adds (a full volume: the bytes filled,
   "serving_after_freed_s", whether its member served while full)}
  writes_again_s       fault -> 20 more writes acknowledged by the clients of the majority
  all_serving_after_s  heal (the network back, the process thawed, the space freed, a
                       replaced pod's hooks done; for a lost volume, the fault itself) ->
                       every member serving the same voters with one leader
With --runs N > 1, one more line per fault: {"bench": "chaos-median", "fault", "runs", and
the median of each time}. Every case also appends its line to .cache/chaos.jsonl. The cases
assert what they guarantee (nothing acknowledged lost, no lost update, no session of the
majority expired, membership unchanged): a run that breaks one exits non-zero, after
printing what the passing cases measured.

Each run is a pytest run in a process of its own (the live substrate needs a process that
starts single-threaded); `-k` selects cases as pytest does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from tests.chaos.clients import RUN_RESULTS  # noqa: E402

TIMES = ("writes_again_s", "all_serving_after_s", "serving_after_freed_s", "max_write_gap_s")


def run_suite(select: str | None, results: Path) -> int:
    argv = [sys.executable, "-m", "pytest", "tests/chaos", "-q", "-p", "no:cacheprovider"]
    if select:
        argv += ["-k", select]
    env = {**os.environ, RUN_RESULTS: str(results)}
    # pytest's own report goes to stderr: stdout carries the JSON lines only.
    return subprocess.run(argv, cwd=REPO, env=env, stdout=sys.stderr).returncode


def medians(lines: list[dict]) -> list[dict]:
    faults: dict[str, list[dict]] = {}
    for line in lines:
        faults.setdefault(line["fault"], []).append(line)
    out = []
    for fault, runs in faults.items():
        median = {"bench": "chaos-median", "fault": fault, "runs": len(runs)}
        for key in TIMES:
            values = [r[key] for r in runs if key in r]
            if values:
                median[f"{key}_median"] = round(statistics.median(values), 2)
        out.append(median)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("-k", dest="select", help="pytest -k expression: which cases")
    args = parser.parse_args()
    lines: list[dict] = []
    failed = 0
    with tempfile.TemporaryDirectory() as work:
        for run in range(args.runs):
            results = Path(work) / f"run-{run}.jsonl"
            results.touch()
            failed |= run_suite(args.select, results)
            for text in results.read_text().splitlines():
                print(text, flush=True)
                lines.append(json.loads(text))
    if args.runs > 1:
        for line in medians(lines):
            print(json.dumps(line), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
