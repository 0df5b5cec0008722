"""python -m kofsim.conformance [--report docs/conformance.md] [--only CASE ...] [-v]"""
from __future__ import annotations

import argparse
import sys

from .report import diff_text, summary_line
from .suite import run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kofsim.conformance")
    ap.add_argument("--report", help="write the Markdown report here")
    ap.add_argument("--only", nargs="*", help="run only cases whose name contains one of these")
    ap.add_argument("--workdir", help="keep state here (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="leave both backends running")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every difference")
    ap.add_argument("--min", type=float, default=0.0, help="exit 1 below this agreement (percent)")
    args = ap.parse_args(argv)
    out = run(args.workdir, only=args.only, keep=args.keep, report=args.report)
    for case, label, eq, va, vb, ra, rb in out["results"]:
        if not eq:
            print(f"DIFF {case}: {label}")
            if args.verbose:
                print(diff_text(va, vb, limit=80))
    for b, times in out["times"].items():
        slow = sorted(times.items(), key=lambda kv: -kv[1])[:5]
        print(f"{b}: slowest cases " + ", ".join(f"{k} {v:.1f}s" for k, v in slow))
    print(f"seconds: {out['seconds']:.1f} (startup {out['startup']:.1f})")
    print(summary_line(out))
    pct = 100.0 * out["agree"] / out["total"] if out["total"] else 0.0
    return 0 if pct >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
