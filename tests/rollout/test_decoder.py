"""cm2's decode loop against a full forward pass of the same model (tiny Gemma 3: sliding-window layers)."""

from typing import Any

import pytest
import torch

from cm2.rollout.decoder import LoopDecoder
from cm2.rollout.policy import DecoderConfig

WINDOW = 8
# Longer than the sliding window, left-padded against each other; the first and last are the same prompt.
CONTEXTS = [[5 + i for i in range(20)], [40, 41, 42], [7 + 3 * i for i in range(12)], [5 + i for i in range(20)]]


@pytest.fixture(scope="module")
def model() -> Any:
    from cm2.llm.testing.tiny_model import tiny_gemma3

    return tiny_gemma3(WINDOW).eval()


def decode(model: Any, caps: list[int], temperature: float = 0.0, top_p: float = 1.0, **config: Any) -> Any:
    decoder = LoopDecoder(model, DecoderConfig(max_batch_size=6, max_cache_len=64, **config), pad_id=0)
    rows: dict[int, tuple[list[int], list[float]]] = {}
    decoder.run(CONTEXTS, caps, temperature, top_p, [1], None, lambda r, i, lp: rows.__setitem__(r, (i, lp)))
    return decoder, rows


def full_logprobs(model: Any, context: list[int], ids: list[int], temperature: float = 1.0) -> torch.Tensor:
    """Log-probs of the next token at each generated position, from one forward pass without a cache."""
    with torch.no_grad():
        logits = model(torch.tensor([context + ids])).logits[0].float()
    return torch.log_softmax(logits[len(context) - 1 : len(context) - 1 + len(ids)] / temperature, dim=-1)


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_greedy_tokens_and_logprobs_match_a_full_forward(model: Any, cache: str) -> None:
    caps = [10, 10, 6, 10]
    decoder, rows = decode(model, caps, cache=cache, compile="off")
    assert decoder.static == (cache == "static")
    for row, context in enumerate(CONTEXTS):
        ids, lps = rows[row]
        assert len(ids) == caps[row] or ids[-1] == 1
        want = full_logprobs(model, context, ids)
        assert ids == want.argmax(dim=-1).tolist()
        assert torch.allclose(torch.tensor(lps), want[range(len(ids)), ids], atol=1e-5)
    assert rows[0] == rows[3]  # the same prompt, prefilled once, decodes the same


def test_sampled_logprobs_are_the_temperature_scaled_ones(model: Any) -> None:
    torch.manual_seed(1)
    _, rows = decode(model, [12] * 4, temperature=0.7, top_p=0.8, cache="static", compile="off")
    for row, context in enumerate(CONTEXTS):
        ids, lps = rows[row]
        want = full_logprobs(model, context, ids, temperature=0.7)
        assert torch.allclose(torch.tensor(lps), want[range(len(ids)), ids], atol=1e-5)
        for position, token in enumerate(ids):  # every token lies in its step's top-p nucleus
            sorted_lp, order = want[position].sort(descending=True)
            mass_before = sorted_lp.exp().cumsum(0) - sorted_lp.exp()
            assert token in order[mass_before < 0.8].tolist()


def test_rows_are_handed_back_as_they_stop_and_shared_prompts_are_prefilled_once(model: Any) -> None:
    _, greedy = decode(model, [10] * 4, cache="static", compile="off")
    stop = greedy[1][0][2]  # row 1 ends at its third token when that token is a stop id
    decoder = LoopDecoder(model, DecoderConfig(max_batch_size=6, max_cache_len=64, check_every=1), pad_id=0)
    batch_sizes: list[int] = []
    forward = decoder._forward

    def counting(ids: torch.Tensor, *args: Any) -> torch.Tensor:
        batch_sizes.append(ids.shape[0])
        return forward(ids, *args)

    decoder._forward = counting  # type: ignore[method-assign, assignment]
    handed: list[tuple[int, int]] = []
    decoder.run(CONTEXTS, [10] * 4, 0.0, 1.0, [stop], None, lambda r, i, lp: handed.append((r, len(batch_sizes))))
    assert batch_sizes[0] == 3  # three distinct prompts among four rows
    first_row, calls_by_then = handed[0]
    assert first_row == 1 and calls_by_then <= 4 and len(batch_sizes) > calls_by_then
    assert sorted(row for row, _ in handed) == [0, 1, 2, 3]


def test_a_context_beyond_the_static_cache_falls_back_to_a_dynamic_one(model: Any) -> None:
    decoder = LoopDecoder(model, DecoderConfig(max_batch_size=6, max_cache_len=24, cache="static"), pad_id=0)
    rows: dict[int, list[int]] = {}
    decoder.run(CONTEXTS, [10] * 4, 0.0, 1.0, [1], None, lambda r, i, lp: rows.__setitem__(r, i))
    assert decoder.fallbacks == 1
    assert rows[0] == full_logprobs(model, CONTEXTS[0], rows[0]).argmax(dim=-1).tolist()


@pytest.mark.slow
def test_the_compiled_static_step_decodes_like_the_eager_one(model: Any) -> None:
    _, eager = decode(model, [10] * 4, cache="static", compile="off")
    decoder, compiled = decode(model, [10] * 4, cache="static", compile="on")
    assert decoder.compiled
    for row in range(4):
        assert compiled[row][0] == eager[row][0]
        assert torch.allclose(torch.tensor(compiled[row][1]), torch.tensor(eager[row][1]), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(("shapes", "compilations"), [("static", 3), ("dynamic", 2)])
def test_a_step_compiled_with_dynamic_shapes_compiles_less_and_decodes_like_the_eager_one(
    model: Any, shapes: str, compilations: int
) -> None:
    from torch._dynamo import reset
    from torch._dynamo.utils import counters

    config = DecoderConfig(max_batch_size=8, max_cache_len=64, cache="static", compile="on", batch_buckets=3)
    eager = LoopDecoder(model, config.model_copy(update={"compile": "off"}), pad_id=0)
    compiled = LoopDecoder(model, config.model_copy(update={"compile_shapes": shapes}), pad_id=0)
    reset()
    counters.clear()
    for rows in (8, 4, 2, 4):  # buckets 8, 4 and 2: after the second the batch dimension is dynamic
        want: dict[int, list[int]] = {}
        got: dict[int, list[int]] = {}
        contexts = (CONTEXTS * 2)[:rows]
        eager.run(contexts, [6] * rows, 0.0, 1.0, [1], None, lambda r, i, lp, d=want: d.__setitem__(r, i))
        compiled.run(contexts, [6] * rows, 0.0, 1.0, [1], None, lambda r, i, lp, d=got: d.__setitem__(r, i))
        assert got == want, rows
    assert counters["stats"]["unique_graphs"] == compilations


@pytest.fixture(scope="module")
def lora_model(model: Any) -> Any:
    """`model` with a LoRA adapter whose weights are random (a fresh adapter is zero: the base model)."""
    import copy

    from peft import LoraConfig, get_peft_model

    torch.manual_seed(2)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    return get_peft_model(copy.deepcopy(model), config).eval()


@pytest.mark.parametrize("compile_step", ["off", pytest.param("on", marks=pytest.mark.slow)])
def test_a_lora_model_decodes_with_its_adapter_applied(model: Any, lora_model: Any, compile_step: str) -> None:
    """RL with LoRA hands the decode loop a peft model: its `forward` takes `**kwargs`, so the loop reads the base
    model's arguments (the cache under its own name, logits of the last position only) and samples from the
    adapted model."""
    decoder, rows = decode(lora_model, [10] * 4, cache="static", compile=compile_step)
    plain = LoopDecoder(model, DecoderConfig(), pad_id=0)
    assert decoder._logits_to_keep and decoder._cache_arg == plain._cache_arg
    for row, context in enumerate(CONTEXTS):
        ids, lps = rows[row]
        want = full_logprobs(lora_model, context, ids)
        assert ids == want.argmax(dim=-1).tolist()
        assert torch.allclose(torch.tensor(lps), want[range(len(ids)), ids], atol=1e-4)
    _, base = decode(model, [10] * 4, cache="static", compile="off")
    assert any(base[row][0] != rows[row][0] for row in range(4))  # the adapter changes what is generated


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_the_decoder_counts_its_batches_rows_steps_and_tokens(model: Any, cache: str) -> None:
    decoder, rows = decode(model, [10, 10, 6, 10], cache=cache, compile="off")
    decoder.run(CONTEXTS[:2], [3, 5], 0.0, 1.0, [1], None, lambda r, i, lp: None)
    stats = decoder.stats
    assert (stats.batches, stats.rows, stats.dynamic_batches, stats.windowed_batches) == (2, 6, 0, 0)
    assert stats.iterations == 10 + 5  # each batch steps until its longest row is done (none stops early here)
    assert stats.tokens == sum(len(ids) for ids, _ in rows.values()) + 3 + 5
    assert stats.prefill_s > 0 and stats.decode_s > stats.host_s > 0


def test_a_small_batch_decodes_in_the_smallest_static_cache_that_holds_it(model: Any) -> None:
    config = DecoderConfig(max_batch_size=8, max_cache_len=64, cache="static", compile="off", batch_buckets=3)
    decoder = LoopDecoder(model, config, pad_id=0)
    assert [decoder.static_rows(n) for n in (1, 2, 3, 5, 8)] == [2, 2, 4, 8, 8]  # buckets 8, 4, 2
    widths: list[int] = []
    forward = decoder._forward

    def counting(ids: torch.Tensor, *args: Any) -> torch.Tensor:
        widths.append(ids.shape[0])
        return forward(ids, *args)

    decoder._forward = decoder._step = counting  # type: ignore[method-assign, assignment]
    for contexts in (CONTEXTS[:2], CONTEXTS):
        rows: dict[int, list[int]] = {}
        decoder.run(
            contexts, [6] * len(contexts), 0.0, 1.0, [1], None, lambda r, i, lp, rows=rows: rows.__setitem__(r, i)
        )
        for row, context in enumerate(contexts):  # the same greedy tokens in either cache
            assert rows[row] == full_logprobs(model, context, rows[row]).argmax(dim=-1).tolist()
    assert sorted(decoder._static_caches) == [2, 4]
    assert set(widths[1:6]) == {2}  # the two-row batch's decode steps ran two rows, not eight
    one = LoopDecoder(model, config.model_copy(update={"batch_buckets": 1}), pad_id=0)
    assert one.static_rows(1) == 8


def test_under_autocast_the_static_cache_holds_the_autocast_dtype_and_decodes_as_before(
    model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RL samples from float32 weights under bfloat16 autocast: the cache stores bfloat16 (half the bytes each
    step reads) and decodes the same tokens and log-probs as a cache that keeps the float32 keys and values."""
    import cm2.rollout.decoder as decoder_module

    caps = [8, 8, 6, 8]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        decoder, rows = decode(model, caps, cache="static", compile="off")
        monkeypatch.setattr(decoder_module, "_storing", lambda layer, dtype: lambda n: layer(max_cache_len=n))
        before, float32_rows = decode(model, caps, cache="static", compile="off")
    (cache,) = decoder._static_caches.values()
    assert {layer.keys.dtype for layer in cache.layers} == {torch.bfloat16}
    (float32_cache,) = before._static_caches.values()
    assert {layer.keys.dtype for layer in float32_cache.layers} == {torch.float32}
    assert rows == float32_rows


def attended_lengths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Key lengths SDPA is handed from now on (one entry per attention call)."""
    lengths: list[int] = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def recording(query: torch.Tensor, key: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        lengths.append(key.shape[-2])
        return sdpa(query, key, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recording)
    return lengths


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_window_attention_hands_sliding_layers_their_window_and_decodes_the_same(
    model: Any, temperature: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contexts longer than the window, left-padded: every decode step's sliding layers see `WINDOW` keys, the
    global layer the whole cache, and tokens and log-probs equal a full forward pass (an off-by-one window
    would shift which keys a sliding layer sees and change both)."""
    caps = [10, 10, 6, 10]
    lengths = attended_lengths(monkeypatch)
    torch.manual_seed(3)
    decoder, rows = decode(model, caps, temperature, cache="static", compile="off", window_attention="on")
    assert decoder.window == WINDOW and decoder.stats.windowed_batches == decoder.stats.batches == 1
    decode_steps = lengths[-3 * 4 :]  # the last three decode steps: three sliding layers, then the global one
    assert decode_steps == [WINDOW, WINDOW, WINDOW, 64] * 3
    for row, context in enumerate(CONTEXTS):
        ids, lps = rows[row]
        want = full_logprobs(model, context, ids, temperature=temperature or 1.0)
        if temperature == 0:
            assert ids == want.argmax(dim=-1).tolist()
        assert torch.allclose(torch.tensor(lps), want[range(len(ids)), ids], atol=1e-5)


def test_window_attention_applies_only_where_it_can(model: Any, lora_model: Any) -> None:
    on = {"cache": "static", "compile": "off", "window_attention": "on"}
    assert LoopDecoder(lora_model, DecoderConfig(**on), pad_id=0).window == WINDOW  # a peft model's base config
    from cm2.llm.testing.tiny_model import tiny_gemma3

    wide = tiny_gemma3(64)  # its window is the whole cache: nothing to cut
    assert LoopDecoder(wide, DecoderConfig(**on, max_cache_len=64), pad_id=0).window is None
    assert LoopDecoder(model, DecoderConfig(**on | {"cache": "dynamic"}), pad_id=0).window is None
    assert LoopDecoder(model, DecoderConfig(cache="static"), pad_id=0).window is None  # off by default
    eager = copy_with_attention(model, "eager")  # eager attention adds its mask as numbers: not this mask
    assert LoopDecoder(eager, DecoderConfig(**on), pad_id=0).window is None


def copy_with_attention(model: Any, implementation: str) -> Any:
    import copy

    other = copy.deepcopy(model)
    other.config._attn_implementation = implementation
    return other


def test_window_attention_with_cm2s_padding_safe_sdpa(model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the GPU, Gemma checkpoints load with `cm2_sdpa` (cm2.llm.attention): the window applies there too."""
    from cm2.llm.attention import register_padded_sdpa

    padded = copy_with_attention(model, register_padded_sdpa())
    lengths = attended_lengths(monkeypatch)
    decoder, rows = decode(padded, [10, 10, 6, 10], cache="static", compile="off", window_attention="on")
    assert decoder.window == WINDOW and lengths[-4:] == [WINDOW, WINDOW, WINDOW, 64]
    for row, context in enumerate(CONTEXTS):
        ids, lps = rows[row]
        want = full_logprobs(model, context, ids)
        assert ids == want.argmax(dim=-1).tolist()
        assert torch.allclose(torch.tensor(lps), want[range(len(ids)), ids], atol=1e-5)


@pytest.mark.parametrize("compile_step", ["off", pytest.param("on", marks=pytest.mark.slow)])
def test_window_attention_decodes_like_the_whole_cache_with_lora_under_autocast(
    model: Any, lora_model: Any, compile_step: str
) -> None:
    """RL's case: a peft model sampling in bfloat16 autocast from a compiled step."""
    caps = [8, 8, 6, 8]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, whole = decode(lora_model, caps, cache="static", compile="off")
        decoder, windowed = decode(lora_model, caps, cache="static", compile=compile_step, window_attention="on")
    assert decoder.window == WINDOW and decoder.compiled == (compile_step == "on")
    for row in range(4):
        assert windowed[row][0] == whole[row][0]
        assert torch.allclose(torch.tensor(windowed[row][1]), torch.tensor(whole[row][1]), atol=2e-2)


def test_window_attention_with_contexts_shorter_than_the_window(model: Any) -> None:
    """The first steps' windows reach before slot 0: those slots must not count (slot 0 is a real token here)."""
    contexts, caps = [[40, 41, 42], [7, 8]], [10, 10]
    decoder = LoopDecoder(
        model, DecoderConfig(max_batch_size=2, max_cache_len=64, window_attention="on", cache="static"), pad_id=0
    )
    rows: dict[int, tuple[list[int], list[float]]] = {}
    decoder.run(contexts, caps, 0.0, 1.0, [1], None, lambda r, i, lp: rows.__setitem__(r, (i, lp)))
    assert decoder.window == WINDOW
    for row, context in enumerate(contexts):
        ids, lps = rows[row]
        want = full_logprobs(model, context, ids)
        assert ids == want.argmax(dim=-1).tolist()
        assert torch.allclose(torch.tensor(lps), want[range(len(ids)), ids], atol=1e-5)
