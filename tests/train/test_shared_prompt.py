"""Rows that share a prompt, scored with it run once, give TRL's fused head's log-probs, entropies and gradients."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from cm2.train.shared_prompt import prompt_runs, shared_prompt_logps, supports_shared_prompt  # noqa: E402

PROMPT, COMPLETION, TEMPERATURE = 20, 7, 0.7


def _gemma(window: int = 8) -> Any:
    """A tiny Gemma 3 whose sliding window is shorter than the prompt (the repeated cache holds the window only),
    with TRL's fused head."""
    from trl.trainer.utils import add_fused_lm_head

    from cm2.llm.testing.tiny_model import tiny_gemma3

    model = tiny_gemma3(window)
    add_fused_lm_head(model, temperature=TEMPERATURE, outputs=("log_probs", "entropy"))
    return model


def _batch() -> tuple[Any, Any]:
    """Two groups (3 rows, then 2) with left-padded prompts of their own and right-padded completions."""
    generator = torch.Generator().manual_seed(1)
    ids, masks = [], []
    for rows, padding in ((3, 3), (2, 5)):
        prompt = torch.randint(2, 256, (PROMPT,), generator=generator)
        prompt[:padding] = 0
        prompt_mask = (torch.arange(PROMPT) >= padding).long()
        for row in range(rows):
            length = COMPLETION - 2 * row
            completion = torch.randint(2, 256, (COMPLETION,), generator=generator)
            completion[length:] = 0
            ids.append(torch.cat([prompt, completion]))
            masks.append(torch.cat([prompt_mask, (torch.arange(COMPLETION) < length).long()]))
    return torch.stack(ids), torch.stack(masks)


def _trl(model: Any, ids: Any, mask: Any) -> tuple[Any, Any]:
    """What TRL's `_get_per_token_logps_and_entropies` computes for one chunk."""
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-COMPLETION] = -100
    out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    return out.log_probs[:, -COMPLETION:], out.entropy[:, -COMPLETION:]


def _grads(model: Any, logps: Any) -> dict[str, Any]:
    model.zero_grad()
    (logps * torch.linspace(-1.0, 1.0, logps.size(0))[:, None]).sum().backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_the_groups_of_a_batch_are_its_runs_of_one_prompt() -> None:
    ids, mask = _batch()
    assert prompt_runs(ids[:, :PROMPT], mask[:, :PROMPT]) == [(0, 3), (3, 5)]
    assert prompt_runs(ids[:1, :PROMPT], mask[:1, :PROMPT]) == [(0, 1)]


def test_shared_prompt_scoring_equals_trls_log_probs_entropies_and_gradients() -> None:
    model = _gemma()
    assert supports_shared_prompt(model)
    ids, mask = _batch()
    expected_logps, expected_entropy = _trl(model, ids, mask)
    expected_grads = _grads(model, expected_logps)
    logps, entropy = shared_prompt_logps(
        model, ids, mask, COMPLETION, temperature=TEMPERATURE, compute_entropy=True, autocast=nullcontext
    )
    assert torch.allclose(logps, expected_logps, atol=1e-5) and torch.allclose(entropy, expected_entropy, atol=1e-5)
    assert bool((logps[mask[:, PROMPT:] == 0] == 0).all())  # padding scores nothing
    grads = _grads(model, logps)
    assert grads.keys() == expected_grads.keys()
    assert all(torch.allclose(grads[name], expected_grads[name], atol=1e-5) for name in grads)
    without, none = shared_prompt_logps(
        model, ids, mask, COMPLETION, temperature=TEMPERATURE, compute_entropy=False, autocast=nullcontext
    )
    assert none is None and torch.allclose(without, logps)


def test_a_model_that_recomputes_activations_is_left_to_trl() -> None:
    model = _gemma()
    model.gradient_checkpointing_enable()
    assert not supports_shared_prompt(model)


def test_groups_are_shuffled_whole_and_every_row_kept() -> None:
    from cm2.train.shared_prompt import shuffle_groups

    torch.manual_seed(0)
    rows = [(group, row) for group in range(3) for row in range(4)]
    batch = {
        "ids": torch.tensor([[10 * group + row] for group, row in rows]),
        "names": [f"{group}.{row}" for group, row in rows],
        "none": None,
        "scalar": torch.tensor(3),
    }
    orders = set()
    for _ in range(20):
        shuffled = shuffle_groups(batch, group_size=4)
        ids = shuffled["ids"][:, 0].tolist()
        assert sorted(ids) == sorted(10 * group + row for group, row in rows)
        assert all(len({i // 10 for i in ids[start : start + 4]}) == 1 for start in range(0, 12, 4))  # whole groups
        assert shuffled["names"] == [f"{i // 10}.{i % 10}" for i in ids]  # every value in unison
        assert shuffled["none"] is None and int(shuffled["scalar"]) == 3
        orders.add(tuple(ids))
    assert len(orders) > 1
    with pytest.raises(ValueError, match="whole groups"):
        shuffle_groups({"ids": batch["ids"][:10]}, group_size=4)
