"""Small data files shipped with cm2, for tests, examples and smoke runs."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

REFERENCE_SAMPLE = "cm2_reference_sample.json"


def sample_path(name: str = REFERENCE_SAMPLE) -> Path:
    """Path of a shipped sample file; the default is one released CM2 record with its checklist."""
    resource = files(__package__).joinpath(name)
    if not resource.is_file():
        raise FileNotFoundError(f"no sample named {name!r} in {__package__}")
    return Path(str(resource))
