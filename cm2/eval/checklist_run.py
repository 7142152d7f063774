"""`cm2 eval checklist` as one library call: read the dialogues, build judge, simulator and policy from the
config, run `evaluate_checklist`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cm2.build import build_environments, build_judge
from cm2.data.errors import no_usable_records
from cm2.data.io import read_dialogues
from cm2.eval.checklist import ChecklistEvalConfig, evaluate_checklist
from cm2.eval.policy_endpoint import connect, out_dir, policy_endpoint
from cm2.eval.results import EvalResult
from cm2.llm import UsageMeter

NO_JUDGE = "set judge.llm (--set judge.llm.model=NAME --set judge.llm.base_url=URL)"


def run_checklist_eval(
    config: ChecklistEvalConfig,
    dialogues: Path,
    *,
    out: Path | None = None,
    checkpoint: Path | None = None,
    chat_template: Path | None = None,
    problems: list[tuple[str, str]] | None = None,
) -> tuple[EvalResult, Path]:
    """Evaluate the configured policy (or `checkpoint`, served for the run) on the dialogues of `dialogues`
    that carry checklists; the result and the folder it belongs in. Unreadable records go to `problems`.
    The tool simulator uses the judge's endpoint unless `simulator.llm` is set."""
    problems = [] if problems is None else problems
    items = [d for d in read_dialogues(dialogues, errors=problems) if d.checklists][: config.limit]
    if not items:
        raise no_usable_records(dialogues, problems or [(str(dialogues), "no dialogue carries a checklist")])
    meter = UsageMeter()
    judge_llm = config.judge.llm
    if judge_llm is not None:
        judge = build_judge(config.judge, meter=meter)
    else:
        judge = build_judge(config.judge.model_copy(update={"cache_path": None}), no_endpoint_hint=NO_JUDGE)
    sim_llm = config.simulator.llm or judge_llm
    simulator = config.simulator.model_copy(update={"llm": sim_llm})
    make_env = build_environments("simulated", simulator, meter=meter)
    record = {
        "dialogues": str(dialogues),
        "judge_model": judge_llm.model if judge_llm else None,
        "simulator_model": sim_llm.model if sim_llm else None,
    }
    try:
        with policy_endpoint(checkpoint, config.policy, chat_template) as (endpoint, served):
            target = out_dir(out, endpoint.model)
            result = asyncio.run(
                evaluate_checklist(
                    connect(endpoint, meter),
                    items,
                    judge,
                    config,
                    model=endpoint.model,
                    out_dir=target,
                    make_env=make_env,
                    meter=meter,
                    config={**record, "policy_base_url": "in-process" if served else endpoint.base_urls[0]},
                )
            )
    finally:
        judge.close()
    return result, target


def unscored_message(result: EvalResult) -> str | None:
    """One line on the rollouts left out of the scores (failed, or without every judge verdict), and what to do;
    None when every rollout was scored."""
    failed = int(result.metrics.get("failed_rollouts", 0))
    if not failed:
        return None
    unfinished = int(result.metrics.get("unfinished_rollouts", 0))
    return (
        f"{failed} rollout(s) left out of the scores ({unfinished} with judge verdicts that could not be "
        "obtained, the rest failed; reasons in the log); run again to retry them, or pass --allow-partial"
    )
