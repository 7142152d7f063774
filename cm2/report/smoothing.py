"""Moving-average smoothing of noisy per-step curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def moving_average(values: Sequence[float | None], window: int) -> np.ndarray:
    """Trailing mean of the last `window` points at each position (fewer at the start).

    Missing points (None or NaN) are left out of the means; a position whose whole window is missing
    is NaN. `window` 1 returns the values unchanged.
    """
    if window < 1:
        raise ValueError(f"the smoothing window must be at least 1, got {window}")
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    present = np.isfinite(array)
    sums = np.concatenate([[0.0], np.cumsum(np.where(present, array, 0.0))])
    counts = np.concatenate([[0], np.cumsum(present)])
    ends = np.arange(1, array.size + 1)
    starts = np.maximum(ends - window, 0)
    total, count = sums[ends] - sums[starts], counts[ends] - counts[starts]
    return np.divide(total, count, out=np.full(array.size, np.nan), where=count > 0)
