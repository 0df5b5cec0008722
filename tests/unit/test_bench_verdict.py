"""benchmarks/run.py's verdict: which targets a measurement meets (pure logic, no benchmark run)."""
import importlib.util
from pathlib import Path

RUN_PY = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"
spec = importlib.util.spec_from_file_location("bench_run", RUN_PY)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _entry(first_s, rerun_s, first_ratio, rerun_ratio):
    return {"first_s": first_s, "rerun_s": rerun_s, "first_requests_vs_min": first_ratio,
            "rerun_requests_vs_min": rerun_ratio}


def test_1x_requests_ratio_is_judged_at_n_1000_only():
    res = {"10": _entry(5, 5, 1.93, 2.06), "1000": _entry(59, 29, 1.02, 1.06)}
    assert bench.verdict(res, bench.TARGETS_1X) == {"first_s_1000": True, "rerun_s_1000": True,
                                                    "first_speedup": None, "rerun_speedup": None,
                                                    "requests_ratio": True}
    res["1000"] = _entry(61, 31, 1.02, 1.21)
    assert bench.verdict(res, bench.TARGETS_1X) == {"first_s_1000": False, "rerun_s_1000": False,
                                                    "first_speedup": None, "rerun_speedup": None,
                                                    "requests_ratio": False}


def test_1x_requests_ratio_not_measured_without_n_1000():
    assert bench.verdict({"10": _entry(5, 5, 1.0, 1.0)}, bench.TARGETS_1X)["requests_ratio"] is None


def test_0_1_requests_ratio_is_judged_at_every_n():
    res = {"10": _entry(5, 5, 1.93, 2.06), "1000": _entry(59, 29, 1.02, 1.06)}
    assert bench.verdict(res, bench.TARGETS)["requests_ratio"] is False
