"""cm2's rollouts for a trainer backend: a batch of episodes run and scored, with per-token advantages
(`RolloutRequest` in, `ScoredBatch` out: see `cm2.train.seam`)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cm2.reward import GroupScores, RewardConfig
from cm2.rollout.episode import EpisodeConfig, EpisodeRunner, StepJudge, run_episodes
from cm2.rollout.hf_policy import TransformersPolicy, stop_token_ids
from cm2.rollout.policy import DecoderConfig
from cm2.rollout.timing import rollout_time_metrics
from cm2.schema import Dialogue, Trajectory
from cm2.scoring import score_group
from cm2.tools import ToolEnvironment
from cm2.train.rl_config import UnavailableVerdicts, ZeroSpreadGroups
from cm2.train.seam import RolloutRequest, ScoredBatch

log = logging.getLogger("cm2.train")


def token_advantages(dialogue: Dialogue, trajectories: list[Trajectory], scores: GroupScores) -> list[list[float]]:
    """Per-token advantages of each rollout of a group scored by `cm2.scoring.score_group`."""
    turns = len(dialogue.checklists[trajectories[0].checklist])
    advantages = []
    for i, trajectory in enumerate(trajectories):
        tokens = trajectory.tokens
        if tokens is None:
            raise ValueError(f"rollout {i} of dialogue {dialogue.uuid} has no tokens (not a token policy?)")
        spans = [s for s in trajectory.step_spans if s.turn < turns]
        advantages.append(scores.token_advantages(i, spans, tokens.loss_mask).tolist())
    return advantages


class CM2Rollouts:
    """cm2's `RolloutSource`: runs every row of a `RolloutRequest` as a cm2 episode and scores the batch.

    Each row names its dialogue (`cm2_uuid`) and checklist (`cm2_checklist`); a trainer backend's adapter
    (`cm2.train.trl_adapter`) builds the request and turns the `ScoredBatch` into its own tensors.
    """

    def __init__(
        self,
        dialogues: dict[str, Dialogue],
        make_env: Callable[[Dialogue], ToolEnvironment],
        judge: StepJudge | None,
        episode: EpisodeConfig,
        reward: RewardConfig,
        num_generations: int,
        *,
        stop_strings: tuple[str, ...] = ("</tool_call>",),
        concurrency: int = 64,
        on_trajectory: Callable[[Trajectory], None] | None = None,
        unavailable: UnavailableVerdicts | None = None,
        decoder: DecoderConfig | None = None,
        zero_spread: ZeroSpreadGroups | None = None,
        seed: int = 0,
    ):
        self.dialogues = dialogues
        self.make_env = make_env
        self.judge = judge
        self.episode = episode
        self.reward = reward
        self.num_generations = num_generations
        self.stop_strings = stop_strings
        self.concurrency = concurrency
        self.on_trajectory = on_trajectory
        decoder = decoder or DecoderConfig()
        # No step's context outgrows the episode's token limit, so neither need the static cache.
        length = min(decoder.max_cache_len, episode.limits.max_context_tokens)
        self.decoder = decoder.model_copy(update={"max_cache_len": length})
        self.policy: TransformersPolicy | None = None
        self.unavailable = unavailable or UnavailableVerdicts()
        self.last: ScoredBatch | None = None
        self.last_rollout_seconds = 0.0
        self.last_retried = 0
        """Episodes of the last batch run again because the judge could not give every verdict."""
        self.zero_spread = zero_spread or ZeroSpreadGroups()
        self.seed = seed
        self.flat_counts = FlatGroupCounts()
        self.score_seconds = 0.0
        """Seconds spent scoring the last batch (every round of resampling included)."""

    def __call__(self, request: RolloutRequest) -> ScoredBatch:
        jobs = [(self.dialogues[row["cm2_uuid"]], int(row["cm2_checklist"])) for row in request.rows]
        # The model is entered once per batch: under ZeRO-3/FSDP the parameters are gathered once, so ranks
        # whose episodes stop early never leave the others waiting in a collective.
        started = time.perf_counter()
        self.score_seconds = 0.0
        with request.policy_model() as model:
            was_training = model.training
            model.eval()
            policy = self.policy_for(model, request.tokenizer)
            decoder_before = policy.decoder_stats.copy()
            runner = EpisodeRunner(policy, self.make_env, self.judge, self.episode)
            step = request.step
            trajectories = policy.drive(self._run(runner, jobs, step))
            work = _StepWork(policy, runner, jobs, step)
            trajectories = self._retry_unavailable(work, trajectories)
            self.last = self.score(trajectories)
            if self.zero_spread.action == "resample":
                trajectories = self._resample_flat(work, trajectories)
            if was_training:
                model.train()
        self.last_rollout_seconds = time.perf_counter() - started
        if self.on_trajectory is not None:
            for trajectory in trajectories:
                self.on_trajectory(trajectory)
        self.last.rollout_seconds, self.last.retried = self.last_rollout_seconds, self.last_retried
        if self.zero_spread.action == "keep":
            flat = len(self.flat_groups(self.last))
            self.flat_counts = FlatGroupCounts(flat=flat, left=flat)
        times = rollout_time_metrics(
            self.last_rollout_seconds, policy.decoder_stats.since(decoder_before), runner.times, self.score_seconds
        )
        self.last.extra_metrics = {**self.flat_counts.as_metrics(), **times}
        return self.last

    def policy_for(self, model: Any, tokenizer: Any) -> TransformersPolicy:
        """One policy per run, so its decoder (static cache, compiled step) is built and warmed up once."""
        if self.policy is None or self.policy.model is not model:
            # Without the end-of-turn token a final reply would run on to max_new_tokens.
            stops = stop_token_ids(model, tokenizer)
            self.policy = TransformersPolicy(
                model, tokenizer, stop_token_ids=stops, stop_strings=self.stop_strings, decoder=self.decoder
            )
        return self.policy

    async def _run(self, runner: EpisodeRunner, jobs: list[tuple[Dialogue, int]], step: int) -> list[Trajectory]:
        trajectories = await run_episodes(runner, jobs, concurrency=self.concurrency)
        for index, trajectory in enumerate(trajectories):
            self._label(trajectory, index, step)
        return trajectories

    def _label(self, trajectory: Trajectory, index: int, step: int) -> None:
        # Consecutive rows are the same prompt repeated num_generations times (TRL's RepeatSampler).
        trajectory.rollout = index % self.num_generations
        group = index // self.num_generations
        trajectory.group = f"{trajectory.dialogue_uuid}:{trajectory.checklist}:step{step}:{group}"
        trajectory.metadata["train_step"] = step

    def _retry_unavailable(self, work: _StepWork, trajectories: list[Trajectory]) -> list[Trajectory]:
        """Under `unavailable.action == "retry"`, run again the episodes missing a verdict; raise when some
        still miss one after `unavailable.retries` re-runs (training on them would learn from an outage)."""
        self.last_retried = 0
        settings = self.unavailable
        if settings.action != "retry":
            return trajectories
        missing = [i for i, t in enumerate(trajectories) if t.unavailable_verdicts()]
        for attempt in range(1, settings.retries + 1):
            if not missing:
                break
            log.warning(
                "step %d: %d of %d rollouts lack judge verdicts; running them again in %gs (%d/%d)",
                work.step, len(missing), len(trajectories), settings.wait_s, attempt, settings.retries,
            )  # fmt: skip
            time.sleep(settings.wait_s)
            redone = work.run([work.jobs[i] for i in missing], self.concurrency)
            for index, trajectory in zip(missing, redone, strict=True):
                self._label(trajectory, index, work.step)
                trajectories[index] = trajectory
            self.last_retried += len(missing)
            missing = [i for i in missing if trajectories[i].unavailable_verdicts()]
        if missing:
            first = next(v for v in trajectories[missing[0]].verdicts if v.satisfied is None)
            raise RuntimeError(
                f"step {work.step}: {len(missing)} rollout(s) still lack judge verdicts after {settings.retries} "
                f"re-run(s) (first: {first.reason}); fix the judge endpoint and resume from the last checkpoint "
                "(resume: true), or set unavailable.action: drop"
            )
        return trajectories

    def flat_groups(self, batch: ScoredBatch) -> list[int]:
        """Indices of the groups (runs of `num_generations` rows) whose every token advantage is zero."""
        size = self.num_generations
        return [
            g
            for g in range(len(batch.trajectories) // size)
            if not any(a != 0.0 for row in batch.token_advantages[g * size : (g + 1) * size] for a in row)
        ]

    def _resample_flat(self, work: _StepWork, trajectories: list[Trajectory]) -> list[Trajectory]:
        """Replace flat groups by groups on other tasks (drawn with a per-step seed) until none is flat or the
        rounds run out; `self.last` is rescored each round."""
        assert self.last is not None
        size = self.num_generations
        flat = self.flat_groups(self.last)
        counts = FlatGroupCounts(flat=len(flat))
        rng = random.Random(self.seed * 1_000_003 + work.step)
        for _ in range(self.zero_spread.rounds):
            if not flat:
                break
            used = {job[0].uuid for job in work.jobs}
            pool = sorted(uuid for uuid in self.dialogues if uuid not in used) or sorted(self.dialogues)
            picked = [self.dialogues[rng.choice(pool)] for _ in flat]
            new_jobs = [(dialogue, rng.randrange(len(dialogue.checklists))) for dialogue in picked]
            redone = work.run(new_jobs, self.concurrency, group_size=size)
            for position, group in enumerate(flat):
                for r in range(size):
                    index = group * size + r
                    trajectories[index] = redone[position * size + r]
                    work.jobs[index] = new_jobs[position]
                    self._label(trajectories[index], index, work.step)
            counts.resampled += len(flat)
            self.last = self.score(trajectories)
            flat = self.flat_groups(self.last)
        counts.left = len(flat)
        self.flat_counts = counts
        return trajectories

    def score(self, trajectories: list[Trajectory]) -> ScoredBatch:
        """Group by `group` (in order) and score each group."""
        started = time.perf_counter()
        groups: dict[str, list[int]] = {}
        for index, trajectory in enumerate(trajectories):
            groups.setdefault(trajectory.group or str(index), []).append(index)
        rewards = [0.0] * len(trajectories)
        turn_rewards: list[list[float]] = [[] for _ in trajectories]
        advantages: list[list[float]] = [[] for _ in trajectories]
        dropped = [i for i, t in enumerate(trajectories) if t.unavailable_verdicts()]
        if dropped:
            log.warning("%d of %d rollouts dropped: judge verdicts unavailable", len(dropped), len(trajectories))
        for members in groups.values():
            group = [trajectories[i] for i in members]
            dialogue = self.dialogues[group[0].dialogue_uuid]
            scores = score_group(dialogue, group, self.reward, drop_unavailable=True)
            group_rewards, group_turns = scores.rewards.tolist(), scores.turn_rewards
            group_advantages = token_advantages(dialogue, group, scores)
            for i, reward, per_turn, adv in zip(members, group_rewards, group_turns, group_advantages, strict=True):
                rewards[i], turn_rewards[i], advantages[i] = reward, per_turn, adv
                trajectories[i].rewards = {"trajectory": reward, "turns": per_turn, "valid": i not in dropped}
        self.score_seconds += time.perf_counter() - started
        return ScoredBatch(trajectories, rewards, advantages, turn_rewards, dropped=len(dropped))


@dataclass
class _StepWork:
    """What one optimizer step's rollouts run with: the policy, the runner, the (dialogue, checklist) of every
    row (resampling changes them) and the step number."""

    policy: TransformersPolicy
    runner: EpisodeRunner
    jobs: list[tuple[Dialogue, int]]
    step: int

    def run(self, jobs: list[tuple[Dialogue, int]], concurrency: int, group_size: int = 1) -> list[Trajectory]:
        return self.policy.drive(run_episodes(self.runner, jobs, group_size=group_size, concurrency=concurrency))


@dataclass
class FlatGroupCounts:
    """Groups of the last batch with zero advantage everywhere: as drawn, replaced, and still flat after."""

    flat: int = 0
    resampled: int = 0
    left: int = 0

    def as_metrics(self) -> dict[str, float]:
        return {
            "cm2/flat_groups": float(self.flat),
            "cm2/resampled_groups": float(self.resampled),
            "cm2/flat_groups_left": float(self.left),
        }
