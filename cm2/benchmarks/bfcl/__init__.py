"""BFCL-V4 multi-turn as a cm2 benchmark (optional extra `cm2[bfcl]`, the `bfcl-eval` package).

- `environment`: BFCL's executable backends as a tool environment (`BfclEnvironment`, `bfcl_entry_id`),
  entries and ground truth; `state`: BFCL's own comparison of backend states;
- `data`: `cm2 data import-bfcl` — entries as reference dialogues (`dialogue`, `texts`) with checklists;
  `split`: the fixed demo split by entry id;
- `evaluate`: `cm2 eval bfcl` — BFCL's loop (`loop`, model calls checked by `calls`) scored by its checker;
- `metrics`, `state_match`, `scoring`: per-turn exact calls, state match, BFCL's verdict and the held-out
  numbers of cm2 rollouts on BFCL dialogues; `testing`: scripted model answers for tests.

Modules are imported one by one (`from cm2.benchmarks.bfcl.environment import BfclEnvironment`) so that
using one part does not load `bfcl_eval`.
"""
