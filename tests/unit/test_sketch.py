"""The percentile sketch: within 1 % of exact percentiles on a million values, mergeable, serialisable."""

from __future__ import annotations

import math
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sketch import PercentileSketch

QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)


def exact(sorted_values: list[float], q: float) -> float:
    """Nearest rank, as pipeline.report.fields.percentile: the value of 1-based rank ceil(q * n)."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def test_relative_error_at_most_one_percent_on_a_million_values():
    rng = random.Random(42)
    # Lambda-like durations: a lognormal body (median 80 ms), a slow tail and some 1 ms calls.
    values = [rng.lognormvariate(math.log(80), 0.8) for _ in range(900_000)]
    values += [rng.uniform(2_000, 15_000) for _ in range(90_000)]
    values += [1.0] * 10_000
    sketch = PercentileSketch()
    sketch.add_all(values)
    values.sort()
    assert sketch.count == 1_000_000
    for q in QUANTILES:
        want = exact(values, q)
        got = sketch.quantile(q)
        assert abs(got - want) / want <= 0.01, (q, got, want)
    assert sketch.quantile(0) == values[0] and sketch.quantile(1) == values[-1]
    assert len(sketch.buckets) < 2_000  # memory is bounded by the value range, not the count


def test_merge_equals_one_sketch_of_all_values_in_any_order():
    rng = random.Random(1)
    parts = [[rng.expovariate(1 / 200) for _ in range(5_000)] for _ in range(4)]
    whole = PercentileSketch()
    for part in parts:
        whole.add_all(part)
    pieces = []
    for part in parts:
        s = PercentileSketch()
        s.add_all(part)
        pieces.append(s)
    left = PercentileSketch().merge(pieces[0]).merge(pieces[1]).merge(pieces[2]).merge(pieces[3])
    right = PercentileSketch().merge(pieces[3].merge(pieces[2])).merge(pieces[1].merge(pieces[0]))
    assert left == whole == right
    assert left.quantiles(QUANTILES) == whole.quantiles(QUANTILES)


def test_serialises_through_json_form_and_pickle():
    s = PercentileSketch()
    s.add_all([0.0, 0.5, 3.25, 3.25, 1200.0])
    again = PercentileSketch.from_dict(s.to_dict())
    assert again == s and again.quantile(0.5) == s.quantile(0.5)
    assert pickle.loads(pickle.dumps(s)) == s
    assert PercentileSketch.from_dict(PercentileSketch().to_dict()).quantile(0.5) is None


def test_zero_and_bad_values():
    s = PercentileSketch()
    s.add_all([0.0, 0.0, 0.0, 10.0])
    assert s.quantile(0.5) == 0.0 and s.quantile(1) == 10.0
    with pytest.raises(ValueError):
        s.add(-1.0)
    with pytest.raises(ValueError):
        s.add(float("nan"))
    with pytest.raises(ValueError):
        s.quantile(1.5)
    with pytest.raises(ValueError):
        s.merge(PercentileSketch(0.01))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=900_000, allow_nan=False), min_size=1, max_size=300),
       st.sampled_from(QUANTILES))
def test_any_sample_any_quantile_within_accuracy(values, q):
    s = PercentileSketch()
    s.add_all(values)
    want = exact(sorted(values), q)
    assert abs(s.quantile(q) - want) <= 0.0051 * want
