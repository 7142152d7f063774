"""The demo and the learning experiment on BFCL: import, label, filter, SFT, GRPO with real tools, evaluate.

- `cm2 data import-bfcl` (`bfcl_import`): BFCL-V4 multi-turn entries as reference dialogues whose tool
  messages come from executing the ground truth on BFCL's backends, with deterministic checklists and a
  fixed demo split by entry id (`split`);
- `cm2 demo` (`pipeline`, configured by `config.DemoConfig`): every stage at small scale, resumable;
- `python -m cm2.demo.experiment`: the same pipeline on a GPU with `configs/experiment/`.

See docs/demo.md.
"""

from cm2.benchmarks.bfcl.data import ImportManifest, ImportOptions, import_bfcl
from cm2.benchmarks.bfcl.split import SPLIT_RULE, split_of
from cm2.demo.config import DemoConfig

__all__ = ["SPLIT_RULE", "DemoConfig", "ImportManifest", "ImportOptions", "import_bfcl", "split_of"]
