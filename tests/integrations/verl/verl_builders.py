"""Shared pieces of the VeRL plugin tests: scripted policy outputs for the kit's two-turn weather dialogue
(`cm2.testing.weather_dialogue`), scripted inference servers, an in-memory TransferQueue, and VeRL trainer
configs built from VeRL's own YAML."""

from __future__ import annotations

import os
from typing import Any

GOOD = [
    '<think>fetch</think>\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
    "<think>ok</think>\n\nIt is sunny in Paris.",
    '<think>fetch</think>\n<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>',
    "<think>ok</think>\n\nIt rains in Rome.",
]
"""Full marks: the right call, then a reply, in both turns."""

SILENT_FIRST = [GOOD[0], "<think>done, say nothing</think>", GOOD[2], GOOD[3]]
"""Turn 0 without a visible reply (C1 fails), turn 1 perfect."""

GUESS = ["<think>guess</think>\n\nProbably sunny.", GOOD[2], GOOD[3]]
"""Answers before fetching: C0 fails; with C0 required the episode stops after turn 0."""

MALFORMED = ['<tool_call>{"name": "get_weather", "arguments": {bad json}</tool_call>', GOOD[1], GOOD[2], GOOD[3]]
"""A tool call that does not parse: an error object comes back, then the model replies."""


class TokenOutput:
    """The fields of VeRL's `TokenOutput` the plugin reads."""

    def __init__(self, token_ids: list[int], log_probs: list[float] | None):
        self.token_ids = token_ids
        self.log_probs = log_probs
        self.stop_reason = "completed"
        self.num_preempted = 0
        self.extra_fields: dict[str, Any] = {}


class ScriptedServer:
    """A fake `server_manager`: each new request id (one per episode) takes the next script; each call of
    that episode returns the script's next text as tokens, followed by EOS. Records every call."""

    def __init__(self, tokenizer: Any, scripts: list[list[str]], *, logprob: float = -0.25):
        self.tokenizer = tokenizer
        self.scripts = scripts
        self.logprob = logprob
        self.assigned: dict[str, list[str]] = {}
        self.calls: list[dict[str, Any]] = []

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **_: Any):  # type: ignore[no-untyped-def]
        script = self.assigned.setdefault(request_id, list(self.scripts[len(self.assigned) % len(self.scripts)]))
        self.calls.append({"request_id": request_id, "prompt_ids": list(prompt_ids), "params": dict(sampling_params)})
        text = script.pop(0) if script else "<think>out of script</think>\n\nDone."
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        ids = ids[: int(sampling_params.get("max_tokens", len(ids)))]
        log_probs = [self.logprob] * len(ids) if sampling_params.get("logprobs") else None
        return TokenOutput(ids, log_probs)


class FakeTransferQueue:
    """TransferQueue's KV calls in memory: rows stored per (partition, key) and read back with VeRL's own
    `list_of_dict_to_tensordict`, as the real store hands them to the trainer."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, keys: list[str], partition_id: str, fields: Any) -> None:
        for i, key in enumerate(keys):
            row = fields[i]
            names = list(row.keys())  # a TensorDict row: iterating it does not give its keys
            self.rows.setdefault((partition_id, key), {}).update({name: row[name] for name in names})

    async def async_kv_batch_put(
        self, keys: list[str], partition_id: str, fields: Any = None, tags: Any = None
    ) -> None:
        self.put(keys, partition_id, fields)

    def kv_batch_put(self, keys: list[str], partition_id: str, fields: Any = None, tags: Any = None) -> Any:
        from transfer_queue import KVBatchMeta

        self.put(keys, partition_id, fields)
        return KVBatchMeta(keys=list(keys), tags=[{} for _ in keys], partition_id=partition_id)

    def kv_batch_get(self, keys: list[str], partition_id: str, select_fields: list[str] | None = None) -> Any:
        from verl.utils.tensordict_utils import list_of_dict_to_tensordict

        rows = [self.rows[(partition_id, key)] for key in keys]
        fields = [f for f in (select_fields or list(rows[0])) if all(f in row for row in rows)]
        return list_of_dict_to_tensordict([{f: row[f] for f in fields} for row in rows])


def verl_config(overrides: dict[str, Any] | None = None) -> Any:
    """VeRL's full default trainer config (its generated YAML) with `overrides` merged in."""
    import verl
    from omegaconf import OmegaConf

    path = os.path.join(os.path.dirname(verl.__file__), "trainer", "config", "_generated_ppo_trainer.yaml")
    config = OmegaConf.load(path)
    return OmegaConf.merge(config, OmegaConf.create(overrides or {}))
