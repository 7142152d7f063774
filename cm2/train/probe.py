"""A fixed probe set, evaluated greedily every N optimizer steps of an RL run: train dialogues, or with
`probe.data` a validation slice that training never sees (what carries over to unseen dialogues).

The rewards of fresh training batches mix what the policy learnt with which dialogues and samples the step
drew; the probe holds both fixed (the same dialogues, greedy decoding, no early stop), so its curve shows
learning. Each evaluation appends one line to `<output_dir>/probe.jsonl` (step 0 is the starting policy)
and adds `probe_reward` / `probe_turn_reward` to the trainer's log at that step, which the report plots.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cm2.data import JsonlAppender
from cm2.reward import RewardConfig
from cm2.rollout.episode import EpisodeConfig, EpisodeRunner, StepJudge, run_episodes
from cm2.schema import Dialogue, Trajectory
from cm2.scoring import score_trajectory
from cm2.tools import ToolEnvironment
from cm2.train.rl_config import ProbeConfig

PROBE_FILE = "probe.jsonl"


def probe_set(dialogues: dict[str, Dialogue], size: int) -> list[Dialogue]:
    """The probe dialogues, by uuid: the first `size` in `draw_order`, so a resumed or repeated run probes the
    same ones, spread over the data."""
    from cm2.data.split import draw_order

    chosen = sorted(dialogues, key=draw_order)[:size]
    return [dialogues[uuid] for uuid in sorted(chosen)]


def probe_episode(episode: EpisodeConfig) -> EpisodeConfig:
    """The RL episode settings made deterministic: greedy decoding and every turn played (no early stop)."""
    sampling = episode.sampling.model_copy(update={"temperature": 0.0, "top_p": 1.0})
    return episode.model_copy(update={"sampling": sampling, "early_stop": False})


def probe_record(
    step: int, dialogues: list[Dialogue], trajectories: list[Trajectory], reward: RewardConfig, seconds: float
) -> dict[str, Any]:
    """One line of `probe.jsonl`: mean trajectory reward R (as the run computes it, L = reference turns) and
    mean turn reward over the turns reached, with each dialogue's R."""
    by_uuid = {d.uuid: d for d in dialogues}
    rewards: dict[str, float] = {}
    turn_rewards: list[float] = []
    steps = 0
    for trajectory in trajectories:
        scored = score_trajectory(by_uuid[trajectory.dialogue_uuid], trajectory, reward)
        rewards[trajectory.dialogue_uuid] = round(scored.reward(reward.mode), 6)
        turn_rewards += scored.turn_rewards(reward.mode)
        steps += sum(scored.steps_per_turn)
    n = max(1, len(trajectories))
    return {
        "step": step,
        "probe_reward": sum(rewards.values()) / n,
        "probe_turn_reward": sum(turn_rewards) / len(turn_rewards) if turn_rewards else 0.0,
        "dialogues": len(trajectories),
        "steps_per_rollout": steps / n,
        "rewards": rewards,
        "seconds": round(seconds, 2),
    }


def probe_callback(
    config: ProbeConfig,
    dialogues: list[Dialogue],
    make_env: Callable[[Dialogue], ToolEnvironment],
    judge: StepJudge | None,
    episode: EpisodeConfig,
    reward: RewardConfig,
    out: Path,
    stop_strings: tuple[str, ...] = ("</tool_call>",),
    make_policy: Callable[[Any, Any], Any] | None = None,
    lora: bool = False,
) -> Any:
    """A trainer callback that runs the probe before the first step, after every `every_steps` steps and after
    the last one (also when a time budget ends training early). With `config.metric` each probe line also
    holds that validation metric's values and score (`validation`).
    Set its `trainer` attribute to the trainer before training (it generates through the trainer's model).
    `make_policy(model, tokenizer)` gives the policy to generate with; pass the training rollouts' own, so the
    probe reuses their compiled decoder instead of compiling another one. With `config.keep_best` it keeps the
    best probed policy (`cm2.train.best`, by `best_score`; `lora`: the adapter alone)."""
    from transformers import TrainerCallback

    settings = probe_episode(episode)
    metric = None
    if config.metric is not None:
        from cm2.train.validation import VALIDATION_METRICS

        metric = VALIDATION_METRICS.get(config.metric)

    class Probe(TrainerCallback):
        trainer: Any = None
        probed_step: int | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == 0:
                self.run(state)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step % config.every_steps == 0 or state.global_step >= state.max_steps:
                self.run(state)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.probed_step != state.global_step:  # stopped early (time budget): probe the last policy too
                self.run(state)

        def run(self, state: Any) -> None:
            from cm2.rollout.hf_policy import TransformersPolicy, stop_token_ids
            from cm2.train.trl_adapter import generation_model

            trainer = self.trainer
            if trainer is None:
                raise RuntimeError("probe callback: set its `trainer` before training")
            started, self.probed_step = time.perf_counter(), state.global_step
            with generation_model(trainer) as model:
                was_training = model.training
                model.eval()
                tokenizer = trainer.processing_class
                if make_policy is not None:
                    policy = make_policy(model, tokenizer)
                else:
                    stops = stop_token_ids(model, tokenizer)
                    policy = TransformersPolicy(model, tokenizer, stop_token_ids=stops, stop_strings=stop_strings)
                runner = EpisodeRunner(policy, make_env, judge, settings)
                jobs = [(d, 0) for d in dialogues]
                trajectories = policy.drive(run_episodes(runner, jobs, concurrency=config.concurrency))
                if was_training:
                    model.train()
            seconds = time.perf_counter() - started
            record = probe_record(state.global_step, dialogues, trajectories, reward, seconds)
            if metric is not None:
                scored = metric(dialogues, trajectories)
                record["validation"] = {"metric": config.metric, **scored.values, "score": scored.score}
            if state.is_world_process_zero:
                with JsonlAppender(out / PROBE_FILE) as sink:
                    sink.write(record)
            logged = {k: v for k, v in record.items() if k in LOGGED}
            if "validation" in record:
                logged["probe_validation_score"] = record["validation"]["score"]
            state.log_history.append(logged | {"step": state.global_step})
            if config.keep_best:
                from cm2.train.best import keep_if_best

                on, score = best_score(record)
                keep_if_best(trainer, out, state.global_step, score, on=on, lora=lora)

    return Probe()


LOGGED = ("probe_reward", "probe_turn_reward")


def best_score(record: dict[str, Any]) -> tuple[str, float]:
    """What early stopping compares for a probe line: its validation metric's score when it has one, else its
    probe reward; with the name of the one chosen."""
    validation = record.get("validation")
    if validation is not None:
        return str(validation["metric"]), float(validation["score"])
    return "probe_reward", float(record["probe_reward"])


def read_probe(path: Path) -> list[dict[str, Any]]:
    """The probe lines of a run, one per step (the last line wins when a resumed run probed a step again)."""
    if not path.is_file():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step)]
