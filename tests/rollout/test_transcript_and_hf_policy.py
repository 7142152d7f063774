import asyncio
from typing import Any

import pytest
import torch

from cm2.llm.testing.tiny_model import build_tiny_model
from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig, EpisodeRunner, run_episodes
from cm2.rollout.hf_policy import TransformersPolicy
from cm2.rollout.policy import DecoderConfig, Generation, SamplingConfig
from cm2.testing import LOOKUP_CALL, EchoTools, RuleJudge, call_dialogue


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp("tiny"))
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


class ScriptedTokens:
    """Emits fixed texts as real tokens of a real tokenizer (tests the bookkeeping, not a model)."""

    def __init__(self, tokenizer: Any, texts: list[str]):
        self.tokenizer = tokenizer
        self.texts = list(texts)
        self.contexts: list[list[int]] = []

    async def continue_tokens(self, context_ids: list[int], sampling: SamplingConfig) -> Generation:
        self.contexts.append(list(context_ids))
        text = self.texts.pop(0)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        return Generation(text=text, token_ids=ids, logprobs=[-1.0] * len(ids), stop_text=self.tokenizer.eos_token)


def test_transcript_masks_exactly_the_policy_tokens(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    texts = [LOOKUP_CALL, "<think>x</think>\n\nanswer", "<think>y</think>\n\nbye"]
    policy = ScriptedTokens(tokenizer, texts)
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), RuleJudge()).run(call_dialogue()))
    tokens = trajectory.tokens
    assert tokens is not None and trajectory.stop_reason == "completed"
    assert len(tokens.completion_ids) == len(tokens.loss_mask) == len(tokens.logprobs or [])
    trained = [t for t, m in zip(tokens.completion_ids, tokens.loss_mask, strict=True) if m]
    expected = [t for text in texts for t in tokenizer(text, add_special_tokens=False)["input_ids"]]
    assert [t for t in trained if t != tokenizer.eos_token_id] == expected
    # spans cover each step's tokens and nothing else
    assert [(s.turn, s.step) for s in trajectory.step_spans] == [(0, 0), (0, 1), (1, 0)]
    for span, text in zip(trajectory.step_spans, texts, strict=True):
        decoded = tokenizer.decode(tokens.completion_ids[span.start : span.end - 1])
        assert decoded == text
        assert all(tokens.loss_mask[span.start : span.end])
    # the context the policy saw at each step is the rendered conversation so far
    full = tokenizer.decode(tokens.prompt_ids + tokens.completion_ids)
    assert "<tool_response>" in full and "second" in full
    seen = len(policy.contexts[1]) - len(tokens.prompt_ids)
    assert policy.contexts[1] == tokens.prompt_ids + tokens.completion_ids[:seen]
    assert policy.contexts[1] == tokens.prompt_ids + tokens.completion_ids[:seen]


def test_transformers_policy_batches_concurrent_episodes(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    policy = TransformersPolicy(model, tokenizer, stop_strings=["</tool_call>"], max_batch_size=8)
    config = EpisodeConfig(sampling=SamplingConfig(max_new_tokens=6, temperature=1.0, seed=0))
    runner = EpisodeRunner(policy, lambda d: EchoTools(), None, config)
    trajectories = asyncio.run(run_episodes(runner, [(call_dialogue(), 0)], group_size=4))
    assert len(trajectories) == 4
    for trajectory in trajectories:
        tokens = trajectory.tokens
        assert tokens is not None
        assert sum(tokens.loss_mask) > 0 and len(tokens.loss_mask) == len(tokens.completion_ids)
        assert all(lp <= 0.0 for lp in tokens.logprobs or [])
    # 4 episodes x 2 turns of one step each, batched: far fewer generate calls than steps
    assert policy.generate_calls < 8


def test_out_of_memory_halves_the_batch_until_it_fits(tiny: tuple[Any, Any]) -> None:
    import torch

    model, tokenizer = tiny
    policy = TransformersPolicy(model, tokenizer, decoder=DecoderConfig(engine="generate"))
    sampling = SamplingConfig(temperature=0.0, max_new_tokens=4)
    contexts = [tokenizer("hello there", add_special_tokens=False)["input_ids"][: n + 1] for n in range(4)]
    alone = [policy.generate([context], sampling)[0].token_ids for context in contexts]
    generate = model.generate

    def tight_memory(*args: Any, **kwargs: Any) -> Any:
        if kwargs["input_ids"].shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (test)")
        return generate(*args, **kwargs)

    model.generate = tight_memory
    try:
        split = policy.generate(contexts, sampling)
    finally:
        model.generate = generate
    assert [g.token_ids for g in split] == alone
    assert policy.oom_splits == 3  # 4 → 2 + 2 → 1 + 1 + 1 + 1


def test_a_turn_cut_at_the_step_limit_hands_over_with_consistent_tokens(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    texts = [LOOKUP_CALL, LOOKUP_CALL, "<think>y</think>\n\nbye"]
    policy = ScriptedTokens(tokenizer, texts)
    config = EpisodeConfig(
        limits=EpisodeLimitsConfig(max_steps_per_turn=2), at_step_limit="next_turn", early_stop=False
    )
    trajectory = asyncio.run(EpisodeRunner(policy, lambda d: EchoTools(), RuleJudge(), config).run(call_dialogue()))
    tokens = trajectory.tokens
    assert tokens is not None and trajectory.stop_reason == "completed"
    assert trajectory.metadata["turns_cut_at_step_limit"] == 1
    # the third generation (turn 1) saw both tool replies of turn 0, then the user's second message
    context = tokenizer.decode(policy.contexts[2])
    assert context.count("<tool_response>") == 2 and context.rstrip().endswith("assistant")
    assert context.index("second") > context.rindex("<tool_response>")
    seen = len(policy.contexts[2]) - len(tokens.prompt_ids)
    assert policy.contexts[2] == tokens.prompt_ids + tokens.completion_ids[:seen]


def test_rows_the_decoder_cut_at_their_stop_read_as_a_full_scan_would(tiny: tuple[Any, Any]) -> None:
    """The loop engine hands a row back at its first stop (id or text); the policy then looks at its last token
    only. Common letters as stop strings make many rows stop on text, some on an id, some at the cap."""
    model, tokenizer = tiny
    stop_ids = list(range(0, model.config.vocab_size, 11))
    policy = TransformersPolicy(model, tokenizer, stop_token_ids=stop_ids, stop_strings=["e", "a"])
    torch.manual_seed(0)
    contexts = [[5, 6, 7, 8 + i] for i in range(16)]
    generations = policy.generate(contexts, SamplingConfig(max_new_tokens=12, temperature=1.0))
    finishes = {(g.finish_reason, bool(g.stop_text)) for g in generations}
    assert {("stop", False), ("stop", True)} <= finishes, finishes  # text stops and id stops both happened
    for generation in generations:
        logprobs = generation.logprobs or []
        assert policy._to_generation(generation.token_ids, logprobs) == generation


@pytest.mark.parametrize("template", ["chatml", "gemma"])
def test_a_per_turn_prompt_renders_the_reference_history_as_sft_trained_on_it(
    tiny: tuple[Any, Any], template: str
) -> None:
    """Turn t's prompt holds turns 0..t-1 of the reference, tool calls included, exactly as the SFT examples
    render them (run 4's prompts dropped the calls: the history showed thoughts answered by tool responses)."""
    import copy

    from cm2.data.turn_tasks import turn_tasks
    from cm2.rollout.chat_template import gemma_tools_template
    from cm2.rollout.transcript import TokenTranscript
    from cm2.testing import weather_dialogue
    from cm2.train.sft_data import to_conversation

    tokenizer = copy.deepcopy(tiny[1])
    if template == "gemma":
        tokenizer.chat_template = gemma_tools_template()
    dialogue = weather_dialogue()
    task = turn_tasks(dialogue)[1]
    messages = [*([task.system] if task.system else []), *task.context, task.turns()[0].user]
    prompt = tokenizer.decode(TokenTranscript(tokenizer, task.tools, messages).prompt_ids)
    assert '"name": "get_weather"' in prompt and '"city": "Paris"' in prompt
    example = to_conversation(dialogue)
    sft_text = tokenizer.apply_chat_template(example["messages"], tools=example["tools"], tokenize=False)
    assert sft_text.startswith(prompt) and len(prompt) < len(sft_text)  # the next message is the reference's
