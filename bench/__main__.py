"""`make bench` / `python -m bench [--quick]`: every benchmark in one go.

Each runs in its own process; results (JSON where the benchmark prints JSON, else its text) go to
bench/results.json with the machine they were measured on, and a readable summary is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench.summary import table

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    # name: (module, full-size args, --quick args)
    "batch_load": ("bench.batch_load", ["--rows", "1000000"], ["--rows", "100000", "--sample", "5000"]),
    # 2,000 messages, not 10,000: moto's ReceiveMessage scans the whole queue per call, so a 10k
    # drain (sensor and reference alike) takes hours here; that cost is moto's, not the sensor's
    "sensor_ticks": ("bench.sensor_ticks", ["--objects", "100000", "--messages", "2000"],
                     ["--objects", "5000", "--messages", "500"]),
    "stream_processor": ("bench.stream_processor", [], ["--batches", "50", "--repeat", "1"]),
    "stream_e2e": ("bench.stream_e2e", ["--events", "10000"], ["--events", "1000"]),
    "analytics_api": ("bench.analytics_api", ["--orders", "1000000"], ["--orders", "50000", "--cold", "2", "--cached", "10"]),
}


def _last_json(text: str):
    for start in [i for i, ch in enumerate(text) if ch == "{" and (i == 0 or text[i - 1] == "\n")][::-1]:
        try:
            return json.loads(text[start:])
        except ValueError:
            continue
    return None


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes, not an hour)")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these")
    args = parser.parse_args()
    results: dict = {"machine": machine(), "quick": args.quick, "benchmarks": {}}
    failed = 0
    for name in args.only or BENCHMARKS:
        module, full, quick = BENCHMARKS[name]
        print(f"== {name} …", flush=True)
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", module, *(quick if args.quick else full)],
                             capture_output=True, text=True, cwd=HERE.parent)
        entry = {"seconds": round(time.perf_counter() - started, 1), "exit_code": run.returncode}
        parsed = _last_json(run.stdout)
        entry["result"] = parsed if parsed is not None else run.stdout.strip()[-4000:]
        if run.returncode != 0:
            failed += 1
            entry["error"] = run.stderr.strip()[-2000:]
        results["benchmarks"][name] = entry
        summary = parsed if isinstance(parsed, dict) else {"output": run.stdout.strip()[-1500:]}
        for key, value in summary.items():
            if not isinstance(value, (dict, list)):
                print(f"   {key:<40} {value}")
        if run.returncode != 0:
            print(f"   FAILED: {entry['error'][-500:]}")
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    summary = table(results["benchmarks"])
    machine_line = ", ".join(f"{k} {v}" for k, v in results["machine"].items())
    (HERE / "results.md").write_text(f"Measured on: {machine_line}\n\n{summary}\n")
    print(f"\n{summary}\n\nwrote {HERE / 'results.json'} and {HERE / 'results.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
