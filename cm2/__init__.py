"""cm2: RL for multi-turn tool-using agents with checklist rewards."""

__version__ = "0.1.0"
