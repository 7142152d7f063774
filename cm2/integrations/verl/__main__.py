"""`python -m cm2.integrations.verl`: check that VeRL loads cm2's plugin in this environment."""

from __future__ import annotations

import sys


def main() -> int:
    """Import VeRL as a training process would, then report each part of cm2's plugin."""
    import verl  # loads the `verl.plugins` entry points, cm2's included

    import cm2.integrations.verl as plugin

    found = plugin.status()
    problems = plugin.errors()
    print(f"verl {verl.__version__}")
    for part, ok in found.items():
        detail = "" if ok else f"  ({problems.get(part, 'missing')})"
        print(f"{part:11s} {'ok' if ok else 'MISSING'}{detail}")
    return 0 if all(found.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
