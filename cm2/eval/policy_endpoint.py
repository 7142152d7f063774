"""The evaluated policy of `cm2 eval`: an endpoint (`policy` in the config) or a checkpoint served in-process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cm2.llm import LLMConfig, UsageMeter
from cm2.rollout.endpoint_policy import EndpointPolicy

NO_POLICY = "name the policy: --checkpoint DIR, or --set policy.base_url=URL --set policy.model=NAME"


@contextmanager
def policy_endpoint(
    checkpoint: Path | None, policy: LLMConfig | None, chat_template: Path | None = None
) -> Iterator[tuple[LLMConfig, bool]]:
    """The policy's endpoint for the block, and whether it is a checkpoint served in this process."""
    if checkpoint is not None:
        if policy is not None:
            raise ValueError("pass either --checkpoint or a policy endpoint (policy.*), not both")
        from cm2.eval.serve import model_name_for, served_checkpoint

        name = model_name_for(checkpoint)
        with served_checkpoint(checkpoint, model_name=name, chat_template=chat_template) as url:
            yield LLMConfig(model=name, base_urls=[url], api_key_env=None), True
        return
    if policy is None:
        raise ValueError(NO_POLICY)
    yield policy, False


def connect(policy: LLMConfig, meter: UsageMeter | None = None, **options: Any) -> EndpointPolicy:
    """An `EndpointPolicy` for `policy`'s first URL; fields left unset keep `EndpointPolicy.connect`'s defaults."""
    settings = policy.model_dump(exclude_unset=True, exclude={"model", "base_urls", "backend"})
    return EndpointPolicy.connect(policy.base_urls[0], policy.model, meter=meter, **settings, **options)


def out_dir(out: Path | None, model: str) -> Path:
    """`out`, else runs/eval/<model> (the name made safe for a folder)."""
    return out or Path("runs") / "eval" / (re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model")
