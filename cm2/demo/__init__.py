"""The demo and the learning experiment on BFCL: import, label, filter, SFT, GRPO with real tools, evaluate.

A recipe over public APIs: the BFCL parts (import, backends, demo split, metrics) come from
`cm2.benchmarks.bfcl`, the rest from cm2's core packages.

- `cm2 demo` (`pipeline`, configured by `config.DemoConfig`): every stage at small scale, resumable;
- `cm2 experiment`: the same pipeline on a GPU with `configs/experiment/`.

See docs/demo.md.
"""

from cm2.demo.config import DemoConfig

__all__ = ["DemoConfig"]
