"""Held-out evaluation on BFCL dialogues: exact calls and state match per turn, BFCL's checker per dialogue,
and the checklist score, each with a 95% confidence interval (`cm2.benchmarks.bfcl.scoring`).

Episodes run through `cm2.eval.evaluate_checklist` (the RL episode runner: replayed user turns, greedy
decoding, no early stop) with BFCL's real backends as the tools. Every turn of every dialogue is played
(`eval.max_turns: null`), with a per-turn step limit that no reference turn reaches (BFCL's own 20 by
default; `check_reference_fits` refuses limits that would cut a reference turn), and a turn that does use up
its steps hands over to the next user turn. Without a judge endpoint only the items decidable in code are
scored (`cm2.eval.deterministic`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from cm2.demo.config import EvalSection
from cm2.llm.config import LLMConfig
from cm2.rollout.policy import ChatPolicy, TokenPolicy
from cm2.schema import Dialogue

STOP_STRINGS = ("</tool_call>",)
T = TypeVar("T")


class ModelScores(BaseModel):
    """One policy's held-out numbers (all in [0, 1]) with their 95% intervals."""

    model: str
    checkpoint: str
    dialogues: int
    exact_call_accuracy: float = Field(description="Share of reference turns whose calls the rollout matched.")
    state_match_accuracy: float = Field(default=0.0, description="Share of turns ending in the reference's state.")
    turns: int = Field(description="Reference turns counted (every turn of the evaluated dialogues).")
    bfcl_accuracy: float = Field(description="Share of dialogues BFCL's checker passes.")
    checklist_score: float = Field(description="Mean over dialogues of the checklist weight earned / offered.")
    intervals: dict[str, dict[str, Any]] = Field(default_factory=dict, description="95% intervals, per metric.")
    checklist_items: str = Field(default="all", description="deterministic: items without a `check` were not scored.")
    max_turns: int | None = Field(default=None, description="Turns evaluated per dialogue (None: every turn).")
    max_steps_per_turn: int = 20
    truncated: int = Field(default=0, description="Dialogues with more turns than max_turns.")
    turns_cut_at_step_limit: int = 0
    bfcl_errors: dict[str, int] = Field(default_factory=dict)
    failed_rollouts: int = 0
    steps_per_rollout: float = 0.0
    calls_per_turn: float = Field(default=0.0, description="Tool calls the policy made per reference turn.")
    stray_call_share: float = Field(
        default=0.0, description="Share of those calls that no reference call of their turn matches (guesses)."
    )


def load_checkpoint(path: str, dtype: str) -> tuple[Any, Any]:
    """Model (eval mode, CPU or the GPU) and tokenizer (with a chat template) of a checkpoint folder."""
    import torch
    from transformers import AutoModelForCausalLM

    from cm2.llm.attention import attention_kwargs
    from cm2.train.models import ModelConfig, load_tokenizer

    tokenizer = load_tokenizer(ModelConfig(path=path))
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), **attention_kwargs(path))
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model.eval(), tokenizer


def check_reference_fits(dialogues: list[Dialogue], settings: EvalSection, tokenizer: Any = None) -> None:
    """Refuse limits under which the reference itself would be cut: a turn with n calls needs n + 1 steps
    (one call per step, then the reply), and the whole reference must fit the context (when a tokenizer
    tells its length)."""
    for dialogue in dialogues:
        for turn in dialogue.turns()[: settings.max_turns]:
            if len(turn.steps) > settings.max_steps_per_turn:
                raise ValueError(
                    f"eval.max_steps_per_turn={settings.max_steps_per_turn} would cut the reference itself: turn "
                    f"{turn.index} of {dialogue.uuid} takes {len(turn.steps)} steps"
                )
        if tokenizer is not None:
            length = reference_tokens(tokenizer, dialogue)
            if length > settings.max_context_tokens:
                raise ValueError(
                    f"eval.max_context_tokens={settings.max_context_tokens} would cut the reference itself: "
                    f"{dialogue.uuid} takes {length} tokens"
                )


def reference_tokens(tokenizer: Any, dialogue: Dialogue) -> int:
    """Tokens of the whole reference dialogue under the policy's chat template."""
    from cm2.train.sft_data import to_conversation

    conversation = to_conversation(dialogue)
    text = tokenizer.apply_chat_template(conversation["messages"], tools=conversation["tools"] or None, tokenize=False)
    return len(tokenizer(str(text), add_special_tokens=False)["input_ids"])


def evaluate_model(
    name: str,
    checkpoint: str,
    dialogues_path: Path,
    settings: EvalSection,
    folder: Path,
    llm: LLMConfig | None = None,
) -> ModelScores:
    """A checkpoint, greedy, on every held-out dialogue (rollouts already in `folder` are reused)."""
    from cm2.data.io import read_dialogues
    from cm2.rollout.hf_policy import TransformersPolicy, stop_token_ids
    from cm2.rollout.policy import DecoderConfig

    model, tokenizer = load_checkpoint(checkpoint, settings.dtype)
    # A static cache as long as the longest allowed context, so no step falls back to the dynamic cache.
    decoder = DecoderConfig(
        max_batch_size=settings.concurrency,
        max_cache_len=settings.max_context_tokens,
        compile_shapes=settings.compile_shapes,
        window_attention=settings.window_attention,
    )
    policy = TransformersPolicy(
        model, tokenizer, stop_token_ids=stop_token_ids(model, tokenizer), stop_strings=STOP_STRINGS, decoder=decoder
    )
    dialogues = list(read_dialogues(dialogues_path))
    return evaluate_policy(name, policy, dialogues, settings, folder, llm, checkpoint=checkpoint, drive=policy.drive)


def evaluate_policy(
    name: str,
    policy: ChatPolicy | TokenPolicy,
    dialogues: list[Dialogue],
    settings: EvalSection,
    folder: Path,
    llm: LLMConfig | None = None,
    *,
    checkpoint: str = "",
    drive: Callable[[Coroutine[Any, Any, Any]], Any] = asyncio.run,
) -> ModelScores:
    """Run and score every held-out dialogue once with `policy` (`drive` runs the episodes' event loop)."""
    from cm2.benchmarks.bfcl.scoring import heldout_intervals, score_rollouts
    from cm2.build import build_environments, build_judge
    from cm2.eval.checklist import ChecklistEvalConfig, evaluate_checklist
    from cm2.eval.deterministic import deterministic_only
    from cm2.judge.config import JudgeConfig
    from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig
    from cm2.rollout.policy import SamplingConfig

    if llm is None:
        dialogues = [deterministic_only(d) for d in dialogues]
    check_reference_fits(dialogues, settings, getattr(policy, "tokenizer", None))
    longest = max(len(d.turns()) for d in dialogues)
    max_turns = longest if settings.max_turns is None else settings.max_turns
    judge = build_judge(JudgeConfig(llm=llm))
    episode = EpisodeConfig(
        limits=EpisodeLimitsConfig(
            max_turns=max_turns,
            max_steps_per_turn=settings.max_steps_per_turn,
            max_context_tokens=settings.max_context_tokens,
        ),
        sampling=SamplingConfig(temperature=0.0, max_new_tokens=settings.max_new_tokens),
        early_stop=False,
        at_step_limit=settings.at_step_limit,
    )
    run_settings = ChecklistEvalConfig(rollouts=1, concurrency=settings.concurrency, episode=episode)
    result = drive(
        evaluate_checklist(
            policy,
            dialogues,
            judge,
            run_settings,
            model=name,
            out_dir=folder,
            make_env=build_environments("bfcl"),
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
    trajectories = _trajectories(folder / "checklist_trajectories.jsonl", name)
    scores = score_rollouts(dialogues, trajectories, max_turns)
    _write_scores(folder / "dialogue_scores.jsonl", scores)
    intervals = heldout_intervals(scores)
    errors = Counter(s.bfcl_error for s in scores if s.bfcl_error)
    return ModelScores(
        model=name,
        checkpoint=checkpoint,
        dialogues=len(dialogues),
        exact_call_accuracy=intervals["exact_calls"].value,
        state_match_accuracy=intervals["state_match"].value,
        turns=sum(s.turns for s in scores),
        bfcl_accuracy=intervals["bfcl_checker"].value,
        checklist_score=intervals["checklist_score"].value,
        intervals={key: interval.as_dict() for key, interval in intervals.items()},
        checklist_items="all" if llm is not None else "deterministic",
        max_turns=settings.max_turns,
        max_steps_per_turn=settings.max_steps_per_turn,
        truncated=sum(len(d.turns()) > max_turns for d in dialogues),
        turns_cut_at_step_limit=sum(int(t.metadata.get("turns_cut_at_step_limit", 0)) for t in trajectories),
        bfcl_errors=dict(errors),
        failed_rollouts=failed,
        steps_per_rollout=result.metrics.get("steps_per_rollout", 0.0),
        calls_per_turn=sum(s.calls for s in scores) / max(1, sum(s.turns for s in scores)),
        stray_call_share=sum(s.stray_calls for s in scores) / max(1, sum(s.calls for s in scores)),
    )


def _write_scores(path: Path, scores: list[Any]) -> None:
    import json

    from cm2.data.atomic import atomic_file

    with atomic_file(path) as tmp:
        tmp.write_text("".join(json.dumps(s.as_dict()) + "\n" for s in scores), encoding="utf-8")


def _trajectories(path: Path, name: str) -> list[Any]:
    from cm2.data.jsonl import iter_jsonl
    from cm2.schema import Trajectory

    out = []
    for raw in iter_jsonl(path):
        if raw.data is not None and (raw.data.get("metadata") or {}).get("model") == name:
            out.append(Trajectory.model_validate(raw.data))
    return out
