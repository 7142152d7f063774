import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cm2.report import moving_average


def naive(values: list[float | None], window: int) -> list[float]:
    out = []
    for i in range(len(values)):
        kept = [v for v in values[max(0, i - window + 1) : i + 1] if v is not None and math.isfinite(v)]
        out.append(sum(kept) / len(kept) if kept else math.nan)
    return out


def test_trailing_window_with_a_short_start() -> None:
    assert moving_average([1.0, 2.0, 3.0, 4.0], 2).tolist() == [1.0, 1.5, 2.5, 3.5]
    assert moving_average([1.0, 2.0, 3.0], 10).tolist() == [1.0, 1.5, 2.0]


def test_window_one_is_the_identity() -> None:
    assert moving_average([0.3, -1.0, 7.5], 1).tolist() == [0.3, -1.0, 7.5]


def test_missing_points_are_left_out_not_counted_as_zero() -> None:
    assert moving_average([1.0, None, 3.0], 2).tolist() == [1.0, 1.0, 3.0]
    result = moving_average([None, float("nan"), 2.0], 1)
    assert np.isnan(result[:2]).all() and result[2] == 2.0


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        moving_average([1.0], 0)


values = st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=40)


@given(values, st.integers(1, 12))
def test_matches_a_direct_computation(data: list[float | None], window: int) -> None:
    np.testing.assert_allclose(moving_average(data, window), naive(data, window), rtol=1e-9, atol=1e-6)
