"""Run one episode: replay the reference user turns, let the policy act, answer its tool calls,
judge each step as it completes, and stop early when a required item fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from cm2.judge.result import JudgeUsage
from cm2.judge.step import StepToJudge
from cm2.llm import Usage
from cm2.llm.toolcalls import parse_output
from cm2.rollout.policy import ChatPolicy, Generation, SamplingConfig, TokenPolicy
from cm2.rollout.timing import EpisodeTimes
from cm2.rollout.transcript import TokenTranscript
from cm2.schema import (
    AssistantStep,
    ChecklistItem,
    Dialogue,
    Message,
    StopReason,
    TokenRecord,
    Trajectory,
    TurnChecklist,
    Verdict,
    checklist_turn,
    count_unavailable,
)
from cm2.tools import ReportsState, ToolEnvironment, error_object


class StepJudge(Protocol):
    """Decides the open items of a turn after one assistant step (see cm2.judge); adds what it spent
    to `usage`, the episode's account."""

    async def judge_step(self, asked: StepToJudge, usage: JudgeUsage | None = None) -> list[Verdict]: ...


class EpisodeLimitsConfig(BaseModel):
    max_turns: int = Field(default=30, ge=1)
    max_steps_per_turn: int = Field(default=8, ge=1)
    max_context_tokens: int = Field(default=10_000, ge=1)


class EpisodeConfig(BaseModel):
    limits: EpisodeLimitsConfig = Field(default_factory=EpisodeLimitsConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    early_stop: bool = Field(default=True, description="End when a required_for_next_turn item is unmet.")
    at_step_limit: Literal["end_episode", "next_turn"] = Field(
        default="end_episode",
        description="When a turn uses up max_steps_per_turn: end the episode (stop reason max_steps), or cut the "
        "turn there and replay the next user message (evaluation: every turn gets its own chance).",
    )
    unknown_counts_as_failed: bool = Field(
        default=True,
        description="For early stop, a required item whose verdict could not be obtained ends the episode "
        "(stop reason judge_unavailable, never required_item_failed); False carries on as if it held.",
    )


def malformed_call_reply(errors: list[str]) -> str:
    """The error object a policy gets back when it wrote tool calls that do not parse."""
    return json.dumps(error_object("malformed_tool_call", "; ".join(errors)))


@dataclass
class _Accounts:
    """What one episode spent on the judge and on simulated tools."""

    judge: JudgeUsage = field(default_factory=JudgeUsage)
    simulator: Usage = field(default_factory=Usage)
    simulator_calls: int = 0

    def as_metadata(self) -> dict[str, Any]:
        simulator = {"calls": self.simulator_calls, **self.simulator.model_dump()}
        return {"judge": self.judge.model_dump(), "simulator": simulator}


@dataclass
class _TurnJudging:
    """Judging of one turn, chained step after step so it overlaps the next generation."""

    items: list[ChecklistItem]
    accounts: _Accounts
    satisfied: set[str] = field(default_factory=set)
    verdicts: list[Verdict] = field(default_factory=list)
    last: asyncio.Task[None] | None = None


class EpisodeRunner:
    """Runs episodes of a policy on reference dialogues; see `run`."""

    def __init__(
        self,
        policy: TokenPolicy | ChatPolicy,
        make_env: Callable[[Dialogue], ToolEnvironment],
        judge: StepJudge | None = None,
        config: EpisodeConfig | None = None,
    ):
        self.policy = policy
        self.make_env = make_env
        self.judge = judge
        self.config = config or EpisodeConfig()
        self.times = EpisodeTimes()
        """Seconds its episodes spent on tools, judging and templates, summed over episodes."""

    async def run(
        self, dialogue: Dialogue, *, checklist: int = 0, rollout: int = 0, group: str | None = None
    ) -> Trajectory:
        limits, times = self.config.limits, self.times
        with times.timing("env_setup_s"):
            env = self.make_env(dialogue)
            await replay_context(env, dialogue.context)
        turns = dialogue.turns()
        head: list[Message] = [dialogue.system] if dialogue.system else []
        messages: list[Message] = [*head, *dialogue.context]
        transcript: TokenTranscript | None = None
        step_sources: list[dict[str, Any]] = []
        verdicts: list[Verdict] = []
        accounts = _Accounts()
        stop: StopReason = "completed"
        cut_turns = 0
        unsent: list[Message] = []  # tool replies of a cut turn, tokenised together with the next user turn
        for turn in turns[: limits.max_turns]:
            messages.append(turn.user)
            if isinstance(self.policy, TokenPolicy):
                with times.timing("template_s"):
                    if transcript is None:
                        transcript = TokenTranscript(self.policy.tokenizer, dialogue.tools, messages)
                    else:
                        transcript.add_environment([*unsent, turn.user])
            unsent = []
            judging = _TurnJudging(self._items(dialogue, checklist, turn.index), accounts)
            turn_stop = await self._run_turn(
                dialogue, turn.index, messages, transcript, env, judging, step_sources, unsent
            )
            if judging.last is not None:
                await judging.last
            verdicts.extend(judging.verdicts)
            if turn_stop == "max_steps" and self.config.at_step_limit == "next_turn":
                cut_turns += 1
            elif turn_stop is not None:
                stop = turn_stop
                break
            early = self._early_stop(judging) if self.config.early_stop else None
            if early is not None:
                stop = early
                break
        else:
            if len(turns) > limits.max_turns:
                stop = "max_turns"
        return Trajectory(
            dialogue_uuid=dialogue.uuid,
            rollout=rollout,
            group=group,
            checklist=checklist,
            messages=played(dialogue, messages),
            tools=dialogue.tools,
            step_spans=transcript.spans if transcript else [],
            tokens=self._tokens(transcript),
            verdicts=verdicts,
            stop_reason=stop,
            metadata={
                "steps": step_sources,
                "reference_turns": len(turns),
                "context_messages": len(dialogue.context),
                "turns_cut_at_step_limit": cut_turns,
                "unavailable_verdicts": count_unavailable(verdicts),
                "usage": accounts.as_metadata(),
            },
        )

    async def _run_turn(
        self,
        dialogue: Dialogue,
        turn: int,
        messages: list[Message],
        transcript: TokenTranscript | None,
        env: ToolEnvironment,
        judging: _TurnJudging,
        step_sources: list[dict[str, Any]],
        unsent: list[Message],
    ) -> StopReason | None:
        """One turn's steps. When the turn is cut at the step limit and the next turn follows, the last
        replies go into `unsent` instead of the transcript: tokenising them now would add a generation
        prompt that the next user message replaces."""
        limits = self.config.limits
        hand_over = self.config.at_step_limit == "next_turn"
        turn_start = max(i for i, m in enumerate(messages) if m.role == "user")
        for step in range(limits.max_steps_per_turn):
            if transcript is not None and len(transcript) >= limits.max_context_tokens:
                return "max_tokens"
            generation = await self._generate(messages, dialogue, transcript)
            if transcript is not None:
                transcript.add_generation(generation, turn, step)
            parsed = parse_output(generation.text)
            assistant = generation.message or parsed.to_message()
            message_index = len(messages) - turn_start
            messages.append(assistant)
            replies: list[Message] = []
            sources: list[str] = []
            if parsed.errors and generation.message is None:
                replies.append(Message(role="tool", content=malformed_call_reply(parsed.errors)))
                sources.append("error")
            for call in assistant.calls:
                with self.times.timing("tools_s"):
                    result = await env.call(call)
                if result.attempts:
                    judging.accounts.simulator += result.usage
                    judging.accounts.simulator_calls += result.attempts
                replies.append(Message(role="tool", content=result.content, tool_call_id=call.id, name=call.name))
                sources.append(str(result.source))
            messages.extend(replies)
            state = None
            if not replies and isinstance(env, ReportsState):
                with self.times.timing("tools_s"):
                    state = env.state_report(dialogue.first_turn + turn)
            record: dict[str, Any] = {
                "turn": turn,
                "step": step,
                "tool_sources": sources,
                "parse_errors": parsed.errors,
            }
            if state is not None:
                record["state"] = state.dump()
            step_sources.append(record)
            done = AssistantStep(turn, step, message_index, assistant, replies, state)
            self._schedule_judging(dialogue, played(dialogue, messages), done, judging)
            if not replies:
                return None
            if hand_over and step == limits.max_steps_per_turn - 1:
                unsent.extend(replies)
            elif transcript is not None:
                with self.times.timing("template_s"):
                    transcript.add_environment(replies)
        return "max_steps"

    async def _generate(
        self, messages: list[Message], dialogue: Dialogue, transcript: TokenTranscript | None
    ) -> Generation:
        sampling = self.config.sampling
        if transcript is not None and isinstance(self.policy, TokenPolicy):
            room = self.config.limits.max_context_tokens - len(transcript)
            sampling = sampling.model_copy(update={"max_new_tokens": max(1, min(sampling.max_new_tokens, room))})
            return await self.policy.continue_tokens(transcript.context_ids, sampling)
        assert isinstance(self.policy, ChatPolicy)
        return await self.policy.respond(messages, dialogue.tools, sampling)

    def _schedule_judging(
        self, dialogue: Dialogue, history: list[Message], step: AssistantStep, judging: _TurnJudging
    ) -> None:
        judge = self.judge
        if judge is None or not judging.items:
            return
        previous = judging.last

        async def judge_this_step() -> None:
            if previous is not None:
                await previous  # items satisfied by earlier steps are not asked again
            open_items = [item for item in judging.items if item.id not in judging.satisfied]
            if not open_items:
                return
            asked = StepToJudge(dialogue, history, step, open_items)
            with self.times.timing("judge_s"):
                step_verdicts = await judge.judge_step(asked, judging.accounts.judge)
            judging.verdicts.extend(step_verdicts)
            judging.satisfied.update(v.item for v in step_verdicts if v.satisfied)

        judging.last = asyncio.get_running_loop().create_task(judge_this_step())

    def _early_stop(self, judging: _TurnJudging) -> StopReason | None:
        """Why the episode ends after this turn: a required item failed, or the judge could not say whether
        it held (the rollout then has no score: it must not read as the policy's failure); None to go on."""
        if self.judge is None:
            return None
        unknown = {v.item for v in judging.verdicts if v.satisfied is None} - judging.satisfied
        unmet = [i.id for i in judging.items if i.required_for_next_turn and i.id not in judging.satisfied]
        if any(item not in unknown for item in unmet):
            return "required_item_failed"
        if unmet and self.config.unknown_counts_as_failed:
            return "judge_unavailable"
        return None

    @staticmethod
    def _items(dialogue: Dialogue, checklist: int, turn: int) -> list[ChecklistItem]:
        turn_items: TurnChecklist | None = checklist_turn(dialogue, checklist, turn)
        return list(turn_items.items) if turn_items else []

    @staticmethod
    def _tokens(transcript: TokenTranscript | None) -> TokenRecord | None:
        if transcript is None:
            return None
        return TokenRecord(
            prompt_ids=transcript.prompt_ids,
            completion_ids=transcript.completion_ids,
            loss_mask=transcript.loss_mask,
            logprobs=transcript.logprobs,
        )


def played(dialogue: Dialogue, messages: list[Message]) -> list[Message]:
    """`messages` without the dialogue's context turns (the judge numbers turns from the first played one)."""
    if not dialogue.context:
        return list(messages)
    head = 1 if dialogue.system else 0
    return [*messages[:head], *messages[head + len(dialogue.context) :]]


async def replay_context(env: ToolEnvironment, context: list[Message]) -> None:
    """Bring a fresh environment to the state after the context's turns by making their tool calls again."""
    for message in context:
        if message.role == "assistant":
            for call in message.calls:
                await env.call(call)


async def run_episodes(
    runner: EpisodeRunner,
    jobs: list[tuple[Dialogue, int]],
    *,
    group_size: int = 1,
    concurrency: int = 64,
    on_done: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """Run `group_size` rollouts of each (dialogue, checklist) job concurrently; results keep job order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(dialogue: Dialogue, checklist: int, rollout: int) -> Trajectory:
        async with semaphore:
            trajectory = await runner.run(
                dialogue, checklist=checklist, rollout=rollout, group=f"{dialogue.uuid}:{checklist}"
            )
        if on_done is not None:
            on_done(trajectory)
        return trajectory

    tasks = [one(d, c, r) for d, c in jobs for r in range(group_size)]
    return list(await asyncio.gather(*tasks))
