"""Held-out evaluation of one checkpoint on BFCL dialogues: checklist score, exact calls, BFCL's checker.

Episodes run through `cm2.eval.evaluate_checklist` (the RL episode runner: replayed user turns, greedy
decoding, no early stop) with BFCL's real backends as the tools and cm2's checklist judge (items with a
`check` are decided in code; reply items need the LLM endpoint). The same rollouts are then scored per
turn against the reference calls and by `bfcl_eval`'s multi-turn checker (`cm2.demo.metrics`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cm2.demo.config import EvalSection
from cm2.llm.config import LLMConfig

STOP_STRINGS = ("</tool_call>",)


class ModelScores(BaseModel):
    """One checkpoint's held-out numbers (all in [0, 1])."""

    model: str
    checkpoint: str
    dialogues: int
    exact_call_accuracy: float = Field(description="Share of reference turns whose calls the rollout matched.")
    turns: int = Field(description="Reference turns counted (each dialogue up to eval.max_turns).")
    bfcl_accuracy: float = Field(description="Share of dialogues BFCL's checker passes (on the counted turns).")
    checklist_score: float = Field(description="Mean trajectory checklist score R (paper mode).")
    max_turns: int = Field(default=30, description="Turns evaluated per dialogue (eval.max_turns).")
    truncated: int = Field(default=0, description="Dialogues with more turns than that.")
    bfcl_errors: dict[str, int] = Field(default_factory=dict)
    failed_rollouts: int = 0
    steps_per_rollout: float = 0.0


def load_checkpoint(path: str, dtype: str) -> tuple[Any, Any]:
    """Model (eval mode, CPU or the GPU) and tokenizer (with a chat template) of a checkpoint folder."""
    import torch
    from transformers import AutoModelForCausalLM

    from cm2.train.models import ModelConfig, load_tokenizer

    tokenizer = load_tokenizer(ModelConfig(path=path))
    from cm2.llm.attention import attention_kwargs

    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), **attention_kwargs(path))
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model.eval(), tokenizer


def evaluate_model(
    name: str,
    checkpoint: str,
    dialogues_path: Path,
    settings: EvalSection,
    folder: Path,
    llm: LLMConfig | None = None,
) -> ModelScores:
    """Run and score every held-out dialogue once; rollouts already in `folder` (same `name`) are reused."""
    from cm2.data.io import read_dialogues
    from cm2.demo.metrics import score_calls
    from cm2.eval.checklist import ChecklistEvalSettings, evaluate_checklist
    from cm2.judge import ChecklistJudge
    from cm2.judge.config import JudgeConfig
    from cm2.llm.factory import make_client
    from cm2.rollout.episode import EpisodeConfig, EpisodeLimits
    from cm2.rollout.hf_policy import TransformersPolicy, stop_token_ids
    from cm2.rollout.policy import SamplingParams
    from cm2.tools.bfcl import BfclEnvironment
    from cm2.train.components import NoEndpoint, bfcl_entry_id

    dialogues = list(read_dialogues(dialogues_path))
    model, tokenizer = load_checkpoint(checkpoint, settings.dtype)
    policy = TransformersPolicy(
        model,
        tokenizer,
        stop_token_ids=stop_token_ids(model, tokenizer),
        stop_strings=STOP_STRINGS,
        max_batch_size=settings.concurrency,
    )
    client = make_client(llm, role="judge") if llm is not None else NoEndpoint("judge")
    judge = ChecklistJudge(client, JudgeConfig(model=llm.model if llm is not None else ""))
    episode = EpisodeConfig(
        limits=EpisodeLimits(
            max_turns=settings.max_turns,
            max_steps_per_turn=settings.max_steps_per_turn,
            max_context_tokens=settings.max_context_tokens,
        ),
        sampling=SamplingParams(temperature=0.0, max_new_tokens=settings.max_new_tokens),
        early_stop=False,
        at_step_limit=settings.at_step_limit,
    )
    run_settings = ChecklistEvalSettings(rollouts=1, concurrency=settings.concurrency, episode=episode)
    result = policy.drive(
        evaluate_checklist(
            policy,
            dialogues,
            judge,
            run_settings,
            model=name,
            out_dir=folder,
            make_env=lambda d: BfclEnvironment.from_entry(bfcl_entry_id(d)),
            config={"checkpoint": checkpoint},
        )
    )
    result.write(folder)
    failed = int(result.metrics.get("failed_rollouts", 0))
    if failed:
        # Scores over the survivors would look like a result; leave the stage unfinished instead.
        unfinished = int(result.metrics.get("unfinished_rollouts", 0))
        raise RuntimeError(
            f"{name}: {failed} of {len(dialogues)} held-out rollouts failed or lack judge verdicts ({unfinished}; "
            "reasons in the log above); run again to retry just those"
        )
    by_uuid = {d.uuid: d for d in dialogues}
    exact = turns = valid = 0
    errors: Counter[str] = Counter()
    for trajectory in _trajectories(folder / "checklist_trajectories.jsonl", name):
        reference = by_uuid[trajectory.dialogue_uuid]
        score = score_calls(reference, trajectory, bfcl_entry_id(reference), settings.max_turns)
        exact, turns, valid = exact + score.exact_turns, turns + score.turns, valid + score.bfcl_valid
        if score.bfcl_error:
            errors[score.bfcl_error] += 1
    scored = max(1, result.n)
    return ModelScores(
        model=name,
        checkpoint=checkpoint,
        dialogues=len(dialogues),
        exact_call_accuracy=exact / turns if turns else 0.0,
        turns=turns,
        bfcl_accuracy=valid / scored,
        checklist_score=result.overall,
        max_turns=settings.max_turns,
        truncated=sum(len(d.turns()) > settings.max_turns for d in dialogues),
        bfcl_errors=dict(errors),
        failed_rollouts=int(result.metrics.get("failed_rollouts", 0)),
        steps_per_rollout=result.metrics.get("steps_per_rollout", 0.0),
    )


def _trajectories(path: Path, name: str) -> list[Any]:
    from cm2.data.jsonl import iter_jsonl
    from cm2.schema import Trajectory

    out = []
    for raw in iter_jsonl(path):
        if raw.data is not None and (raw.data.get("metadata") or {}).get("model") == name:
            out.append(Trajectory.model_validate(raw.data))
    return out
