"""RewardConfig defaults and the combinations it refuses."""

import pytest
from pydantic import ValidationError

from cm2.reward import RewardConfig


def test_defaults_are_the_papers_final_setting() -> None:
    """... and an unobtainable verdict drops the rollout: an outage is never a zero reward by default."""
    cfg = RewardConfig()
    assert (cfg.level, cfg.scale, cfg.mode, cfg.eta, cfg.min_reach, cfg.unknown) == (
        "trajectory",
        "one",
        "paper",
        1.0,
        None,
        "drop",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "released", "level": "step"}, "step-level advantages always use the paper"),
        ({"mode": "released", "eta": 0.9}, "eta has no effect on the released turn score"),
        ({"eta": 0.0}, "greater than 0"),
        ({"eta": 1.5}, "less than or equal to 1"),
        ({"min_reach": -1}, "greater than or equal to 0"),
        ({"level": "episode"}, "'trajectory', 'turn' or 'step'"),
        ({"levle": "turn"}, "Extra inputs are not permitted"),
    ],
)
def test_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RewardConfig(**fields)


def test_loads_from_a_plain_mapping() -> None:
    cfg = RewardConfig.model_validate({"level": "step", "scale": "std", "eta": 0.9, "min_reach": 4, "unknown": "drop"})
    assert cfg.min_reach == 4 and cfg.unknown == "drop"
