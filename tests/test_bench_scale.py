"""scripts/bench_scale.py: the growth fits (pure functions) and the table."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_scale", Path(__file__).parents[1] / "scripts" / "bench_scale.py")
bench_scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_scale)


@pytest.mark.parametrize("k", [0.0, 0.5, 1.0, 2.0])
def test_growth_exponent_recovers_a_power_law(k):
    sizes = [10, 30, 100]
    assert bench_scale.growth_exponent(sizes, [3.0 * s**k for s in sizes]) == pytest.approx(k, abs=1e-9)


def test_growth_exponent_is_the_least_squares_slope_on_log_log():
    # log2 sizes 0, 1, 2 and log2 values 0, 2, 2: slope 1 on log-log
    assert bench_scale.growth_exponent([1, 2, 4], [1, 4, 4]) == pytest.approx(1.0)


@pytest.mark.parametrize("sizes, values", [([5], [1.0]), ([5, 5], [1.0, 2.0]), ([1, 2], [1.0, 0.0]),
                                           ([1, 2], [1.0, float("nan")])])
def test_growth_exponent_is_nan_where_it_cannot_be_fitted(sizes, values):
    assert math.isnan(bench_scale.growth_exponent(sizes, values))


def test_growth_exponent_refuses_unaligned_input():
    with pytest.raises(ValueError):
        bench_scale.growth_exponent([1, 2, 3], [1.0, 2.0])


def test_linear_growth_and_the_largest_size_within_a_budget():
    sizes, values = [1, 2, 4], [300 + 50 * s for s in (1, 2, 4)]
    intercept, slope = bench_scale.linear_growth(sizes, values)
    assert intercept == pytest.approx(300) and slope == pytest.approx(50)
    assert bench_scale.largest_fitting(sizes, values, 1300) == pytest.approx(20)
    assert math.isinf(bench_scale.largest_fitting(sizes, [300, 300, 300], 1300))


def test_table_has_one_row_per_method_and_stage_with_its_exponents():
    results = {("-", "load", n): {"seconds": 0.1 * n, "peak_mb": 100.0 + n, "anon_mb": 50.0 + n} for n in (1, 4)}
    results[("nuclr", "fit", 1)] = {"seconds": 2.0, "peak_mb": 200.0, "anon_mb": 100.0, "steps": 10}
    results[("nuclr", "fit", 4)] = {"error": "MemoryError"}
    lines = bench_scale.table_rows(results, [1, 4], [0.5, 2.0])
    assert len(lines) == 4
    load = lines[2].split(" | ")
    assert load[1] == "load" and float(load[4]) == pytest.approx(1.0)  # time grows linearly
    assert "0.20/step" in lines[3] and "MemoryError" in lines[3] and lines[3].count(" - ") >= 3
