"""``python -m bench [--quick] [--only CELL,...]``: run the cells, print the table, keep the results.

Results go to ``bench/results/`` (git-ignored): a JSON file per run and ``latest.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import replace

import orjson

from bench import peers, profile, report
from bench.cells import CELLS, RESULTS, Plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about a second per cell: a smoke run")
    parser.add_argument("--only", default=",".join(CELLS), help=f"comma-separated cells: {', '.join(CELLS)}")
    parser.add_argument("--no-save", action="store_true", help="print only; write nothing to bench/results")
    parser.add_argument(
        "--profile", action="store_true", help="sample the fake with py-spy (see bench/profile.py)"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(CELLS))
    if unknown:
        parser.error(f"unknown cell(s): {', '.join(unknown)}")
    plan = Plan.quick() if args.quick else Plan.full()
    plan = replace(plan, profile=args.profile)
    mode = (
        "quick (smoke run, not a measurement)" if args.quick else f"{plan.rounds} rounds × {plan.seconds:g} s"
    )
    now = dt.datetime.now(dt.UTC)
    meta: dict[str, object] = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine(),
        "stack": report.stack(),
        "load": report.load_tool(),
        "mode": mode,
        "plan": plan.__dict__,
    }
    if set(chosen) & set(report.FETCH_CELLS):
        peers.check()  # installs the peers on first use, before any cell's clock runs
        meta["peers"] = peers.versions()
    results: dict[str, object] = {}
    began, watch = time.perf_counter(), report.CpuWatch()
    for name in chosen:
        cell_began = time.perf_counter()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        results[name] = CELLS[name](plan)
        print(f"bench: {name} done in {time.perf_counter() - cell_began:.1f} s", file=sys.stderr, flush=True)
    meta["seconds"] = round(time.perf_counter() - began, 1)
    meta["other_cpu"] = watch.other_share()
    table = report.render(results, meta)
    print(table)
    for name, cell in results.items():
        for key, summary in cell.items() if isinstance(cell, dict) else ():
            if key.startswith("profile_") and isinstance(summary, dict):
                print("\n" + profile.render(f"py-spy, {name} cell ({key[8:]})", summary))
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        stamp = now.strftime("%Y%m%d-%H%M%S")
        (RESULTS / f"bench-{stamp}.json").write_bytes(
            orjson.dumps({"meta": meta, "results": results}, option=orjson.OPT_INDENT_2)
        )
        (RESULTS / "latest.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
