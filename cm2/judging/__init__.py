"""`cm2 judge`'s application: judge files of trajectories group by group, score each group, write one
`JudgedRecord` per rollout (append-only, resumable), and show per-turn tables.

The verdicts come from `cm2.judge`; the numbers from `cm2.scoring`.
"""

from cm2.judging.records import JudgedRecord
from cm2.judging.runner import RunSummary, judge_files

__all__ = ["JudgedRecord", "RunSummary", "judge_files"]
