"""The simulator fleet in each OCPP version, one command: 1.6, then 2.0.1, then a mixed fleet.

Runs ``bench/sim_fleet.py`` three times in a row with the same arguments (each against a fresh
``chargebay serve``) and prints, beside 1.6's as the reference measured in the same run, what
each held: stations connected through the hold, boot time (99 % and all), simulator RSS per
station and the simulator's CPU per call, with the ratio of each to 1.6's. The comparison is
written to --output (bench/results/sim_fleet_versions.json), each run's whole results beside it
(sim_fleet_versions_1.6.json, …).

    python bench/sim_fleet_versions.py [--stations 10000] [--hold 60] [--mix 1.6=70,2.0.1=30]
                                       [any other sim_fleet.py option]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def figures(result: dict[str, Any]) -> dict[str, float | None]:
    boot, hold = result.get("boot") or {}, result.get("hold") or {}
    by_fraction = boot.get("booted_s_by_fraction") or {}
    return {"stations held": hold.get("connected_min_max", [None])[0],
            "booted": boot.get("booted"),
            "boot 99 % (s)": by_fraction.get("0.99"), "boot all (s)": boot.get("boot_s"),
            "sim RSS / station (KB)": hold.get("sim_rss_kb_per_station"),
            "sim CPU / call, hold (us)": hold.get("sim_cpu_us_per_call"),
            "charging connectors": hold.get("charging_connectors"),
            "CALLERRORs": hold.get("call_errors_total")}


def render(runs: dict[str, dict[str, float | None]]) -> str:
    names = list(runs)
    rows = [f"{'':28}" + "".join(f"{n:>16}" for n in names) + "".join(f"{n + ' / 1.6':>16}" for n in names[1:])]
    for key in runs[names[0]]:
        values = [runs[n][key] for n in names]
        line = f"{key:28}" + "".join(f"{'-' if v is None else f'{v:g}':>16}" for v in values)
        base = values[0]
        for v in values[1:]:
            line += f"{(f'{v / base:.2f}x' if base and v is not None else '-'):>16}"
        rows.append(line)
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mix", default="1.6=70,2.0.1=30", help="the mixed fleet's shares")
    parser.add_argument("--output", type=Path, default=RESULTS / "sim_fleet_versions.json")
    args, rest = parser.parse_known_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, float | None]] = {}
    code = 0
    for name, flags in (("1.6", ["--ocpp-version", "1.6"]), ("2.0.1", ["--ocpp-version", "2.0.1"]),
                        ("mix", ["--mix", args.mix])):
        output = args.output.with_name(f"{args.output.stem}_{name}.json")
        print(f"sim_fleet_versions: {name} ...", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, str(BENCH / "sim_fleet.py"), *rest, *flags, "--output", str(output)],
                              check=False)
        code = code or done.returncode
        runs[name] = figures(json.loads(output.read_text()))
    args.output.write_text(json.dumps({"mix": args.mix, "runs": runs}, indent=2) + "\n")
    print(f"\nthe simulator fleet per OCPP version (mix: {args.mix}), the ratios to 1.6 measured in this run:")
    print(render(runs))
    return code


if __name__ == "__main__":
    sys.exit(main())
