"""The `cm2_agent` agent loop: cm2's episode runner on VeRL's inference servers.

For every dataset row (one reference dialogue and checklist) and every one of the group's rollouts,
VeRL builds this loop and awaits `run`. The loop replays the reference user turns, answers tool calls
with the hybrid simulator (or BFCL's backends), judges each step as it completes, stops early when a
required item fails, and returns tokens, loss mask and log-probs with per-token rewards at turn ends
(`rm_scores`) and the rollout record the `cm2_checklist` estimator needs (`extra_fields["cm2"]`).
Needs the v1 trainer (`trainer.use_v1=true`, the default): the legacy one keeps only the total.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import torch
from pydantic import Field
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput, register

from cm2.integrations.verl.config import AGENT_NAME, VerlRolloutConfig, reward_config, rollout_config
from cm2.integrations.verl.policy import ServerTokenPolicy
from cm2.integrations.verl.record import RolloutRecord, record_from_trajectory, turn_end_rewards
from cm2.integrations.verl.rows import prompt_tokens
from cm2.integrations.verl.services import (
    TimedEnvironment,
    ToolClock,
    dialogue_from_row,
    services_for,
    trajectory_sink,
)
from cm2.reward import RewardConfig
from cm2.rollout.episode import EpisodeConfig, EpisodeRunner
from cm2.schema import Dialogue, Trajectory

logger = logging.getLogger(__name__)


class CM2AgentLoopOutput(AgentLoopOutput):
    """An agent-loop output whose `rm_scores` carry one reward per turn, on the turn's last trained token."""

    token_rewards: list[float] = Field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        output: dict[str, Any] = super().as_dict()
        output.pop("token_rewards", None)
        rewards = torch.tensor(self.token_rewards, dtype=torch.float32)
        if rewards.shape != output["response_mask"].shape:
            raise ValueError(f"{rewards.numel()} token rewards for {output['response_mask'].numel()} response tokens")
        output["rm_scores"] = rewards
        return output


@register(AGENT_NAME)
class CM2AgentLoop(AgentLoopBase):
    """Runs one cm2 episode per call; the row's `extra_info` names the dialogue and checklist."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.prompt_length = int(self.rollout_config.prompt_length)
        self.response_length = int(self.rollout_config.response_length)
        self.cm2: VerlRolloutConfig = rollout_config(self.config)
        self.reward: RewardConfig = reward_config(self.config.algorithm)

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        dialogue, checklist = dialogue_from_row(kwargs.get("extra_info"))
        services = services_for(self.cm2)
        policy = ServerTokenPolicy(
            self.server_manager,
            self.tokenizer,
            sampling_params,
            request_id=self._request_id(kwargs),
            stop_token_ids=self.cm2.stop_token_ids,
            stop=self.cm2.stop,
        )
        clock = ToolClock()
        prompt_tokens = self._prompt_length(dialogue)
        runner = EpisodeRunner(
            policy,
            lambda d: TimedEnvironment(services.make_env(d), clock),
            services.judge,
            self._episode_config(sampling_params, prompt_tokens),
        )
        group = str(kwargs["uid"]) if kwargs.get("uid") is not None else None
        trajectory = await runner.run(
            dialogue, checklist=checklist, rollout=int(kwargs.get("session_id", 0) or 0), group=group
        )
        record = record_from_trajectory(trajectory, dialogue, self.reward)
        if self.cm2.trajectories_dir:
            self._keep(trajectory, record, kwargs)
        return self._output(trajectory, record, policy, clock)

    def _request_id(self, kwargs: dict[str, Any]) -> str:
        if getattr(self.rollout_config, "full_determinism", False):
            return f"det-{int(kwargs.get('priority', 0) or 0)}-{kwargs.get('session_id', 0)}"
        return uuid.uuid4().hex

    def _prompt_length(self, dialogue: Dialogue) -> int:
        """Tokens of the first prompt (system, tools, first user turn), as the episode will render it."""
        length = prompt_tokens(dialogue, self.tokenizer)
        if length > self.prompt_length:
            raise ValueError(
                f"dialogue {dialogue.uuid}: the first prompt takes {length} tokens, more than "
                f"actor_rollout_ref.rollout.prompt_length={self.prompt_length} (raise data.max_prompt_length, "
                "or drop such rows with `prepare --tokenizer ... --max-prompt-length ...`)"
            )
        return length

    def _episode_config(self, sampling_params: dict[str, Any], prompt_tokens: int) -> EpisodeConfig:
        """cm2's episode settings with VeRL's temperature/top_p and a context that fits VeRL's buffers."""
        episode = self.cm2.episode
        sampling = episode.sampling.model_copy(
            update={
                "temperature": float(sampling_params.get("temperature", episode.sampling.temperature)),
                "top_p": float(sampling_params.get("top_p", episode.sampling.top_p)),
            }
        )
        # Trained tokens stay within the context limit, so capping it at prompt + response_length
        # guarantees that cutting the response to response_length never drops a trained token.
        context = min(episode.limits.max_context_tokens, prompt_tokens + self.response_length)
        limits = episode.limits.model_copy(update={"max_context_tokens": max(1, context)})
        return episode.model_copy(update={"sampling": sampling, "limits": limits})

    def _output(
        self, trajectory: Trajectory, record: RolloutRecord, policy: ServerTokenPolicy, clock: ToolClock
    ) -> CM2AgentLoopOutput:
        tokens = trajectory.tokens
        if tokens is None:  # pragma: no cover - a TokenPolicy always yields tokens
            raise RuntimeError("the episode produced no token record")
        cut = self.response_length
        if any(tokens.loss_mask[cut:]):
            raise RuntimeError(f"dialogue {record.dialogue}: trained tokens beyond response_length={cut}")
        response = list(tokens.completion_ids[:cut])
        mask = list(tokens.loss_mask[:cut])
        logprobs = list(tokens.logprobs[:cut]) if policy.want_logprobs and tokens.logprobs is not None else None
        if not response:  # VeRL needs at least one response token; this one is not trained
            tokenizer: Any = self.tokenizer
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
            response, mask = [int(pad)], [0]
            logprobs = [0.0] if logprobs is not None else None
        rewards = turn_end_rewards(record.reward_by_turn, record.spans, mask)
        return CM2AgentLoopOutput(
            prompt_ids=list(tokens.prompt_ids),
            response_ids=response,
            response_mask=mask,
            response_logprobs=logprobs,
            reward_score=record.reward,
            token_rewards=rewards.tolist(),
            num_turns=sum(1 for m in trajectory.messages if m.role != "system"),
            metrics=AgentLoopMetrics(
                generate_sequences=policy.generate_s, tool_calls=clock.seconds, num_preempted=policy.preempted
            ),
            extra_fields={
                "cm2": record.model_dump(mode="json"),
                "turn_scores": list(record.reward_by_turn),
                "tool_rewards": [],
                "reward_extra_info": {
                    "cm2_reward": record.reward,
                    "cm2_turns_reached": record.turns_reached,
                    "cm2_early_stop": float(record.stop_reason == "required_item_failed"),
                    "cm2_tool_errors": record.tool_errors,
                    "cm2_valid": float(record.valid),
                },
            },
        )

    def _keep(self, trajectory: Trajectory, record: RolloutRecord, kwargs: dict[str, Any]) -> None:
        assert self.cm2.trajectories_dir is not None
        trajectory.rewards = {"trajectory": record.reward, "turns": record.reward_by_turn}
        trajectory.metadata["verl"] = {k: _plain(kwargs.get(k)) for k in ("uid", "session_id", "global_steps", "index")}
        try:
            trajectory_sink(self.cm2.trajectories_dir).write(trajectory.dump())
        except OSError as exc:  # a full disk must not stop training
            logger.warning("cm2: could not record a trajectory in %s: %s", self.cm2.trajectories_dir, exc)


def _plain(value: Any) -> Any:
    """numpy/torch scalars as plain Python values (for JSON)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value
