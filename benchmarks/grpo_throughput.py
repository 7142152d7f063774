"""cm2's GRPO step against stock TRL GRPOTrainer: same model, batch and lengths, tokens/s side by side.

Both trainers start from the same random-weight model (a Qwen3 shape; speed does not depend on the
values) and a word-level tokenizer with the model's vocabulary. Stock TRL generates single-turn
completions of exactly `--completion-len` tokens; cm2 runs one-turn episodes through its episode
runner (chat template, `</tool_call>` stop string, judging, per-token advantages) with the same
number of new tokens. Throughput = (prompt + completion tokens) per second of optimizer step,
over the steps after the first (warm-up).

    python benchmarks/grpo_throughput.py --device cuda                      # Qwen3-0.6B shape
    python benchmarks/grpo_throughput.py --device cpu --tiny --steps 3      # smoke test
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from cm2.testing import RuleJudge, even_length, reply_item
from cm2.tools import HybridToolSimulator
from cm2.train.grpo import run_rl
from cm2.train.rl_config import RLRunConfig

SHAPES = {
    "qwen3-0.6b": {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28, "heads": 16, "kv": 8},
    "qwen3-1.7b": {"hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28, "heads": 16, "kv": 8},
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "heads": 4, "kv": 2},
    # Gemma 3 shapes: five sliding-window layers to one global layer (head_dim and window as given).
    "gemma3-270m": {
        "hidden_size": 640,
        "intermediate_size": 2048,
        "num_hidden_layers": 18,
        "heads": 4,
        "kv": 1,
        "head_dim": 256,
        "sliding_window": 512,
    },
    "tiny-gemma3": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 6,
        "heads": 4,
        "kv": 1,
        "head_dim": 16,
        "sliding_window": 16,
    },
}
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build(path: Path, shape: str, vocab: int) -> Path:
    """A random Qwen3- or Gemma3-shaped model and a word-level tokenizer covering its whole vocabulary."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    words = {token: i for i, token in enumerate(specials)}
    words.update({f"w{i}": i for i in range(len(specials), vocab)})
    core = Tokenizer(models.WordLevel(words, unk_token="<|endoftext|>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=TEMPLATE
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    s = SHAPES[shape]
    sizes = {
        "vocab_size": vocab,
        "hidden_size": s["hidden_size"],
        "intermediate_size": s["intermediate_size"],
        "num_hidden_layers": s["num_hidden_layers"],
        "num_attention_heads": s["heads"],
        "num_key_value_heads": s["kv"],
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    torch.manual_seed(0)
    if "gemma3" in shape:
        gemma = Gemma3TextConfig(
            **sizes,
            head_dim=s["head_dim"],
            sliding_window=s["sliding_window"],
            max_position_embeddings=32_768,
            bos_token_id=tokenizer.pad_token_id,
        )
        Gemma3ForCausalLM(gemma).save_pretrained(path)
    else:
        qwen = Qwen3Config(
            **sizes, head_dim=128 if shape != "tiny" else 16, max_position_embeddings=8192, tie_word_embeddings=True
        )
        Qwen3ForCausalLM(qwen).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def prompt_text(length: int, first: int = 0) -> str:
    return " ".join(f"w{10 + (first + i) % 1000}" for i in range(length))


def tokens_per_second(log: list[dict[str, Any]]) -> tuple[float, list[float]]:
    """Tokens actually processed (TRL's `num_tokens`: prompt + generated) per second of step time,
    leaving out the first step (warm-up)."""
    steps = [entry for entry in log if "step_time" in entry]
    seen = [0.0] + [float(entry["num_tokens"]) for entry in steps]
    tokens = [after - before for before, after in itertools.pairwise(seen)]
    times = [float(entry["step_time"]) for entry in steps]
    if len(times) > 1:
        tokens, times_used = tokens[1:], times[1:]
    else:
        times_used = times
    return sum(tokens) / sum(times_used), times


def stock_trl(model_dir: Path, args: argparse.Namespace, out: Path) -> tuple[float, list[float]]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=args.dtype)
    rows = [{"prompt": [{"role": "user", "content": prompt_text(args.prompt_len)}]}] * (args.dialogues * args.steps)
    config = GRPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=args.group,
        num_generations=args.group,
        gradient_accumulation_steps=args.dialogues,
        max_completion_length=args.completion_len,
        generation_kwargs={"min_new_tokens": args.completion_len},
        max_steps=args.steps,
        learning_rate=1e-6,
        beta=0.001,
        scale_rewards="none",
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=args.device == "cpu",
        bf16=args.dtype == "bfloat16",
    )

    def reward(completions: list[Any], **_: Any) -> list[float | None]:
        return [float(len(str(c)) % 2) for c in completions]

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()
    return tokens_per_second(trainer.state.log_history)


def bench_rl_config(
    model_dir: Path, args: argparse.Namespace, out: Path, dialogues: int, distinct: bool = False, **extra: Any
) -> RLRunConfig:
    """cm2's RL config for `dialogues` one-turn dialogues of the benchmark prompt (one reply item each; `distinct`:
    each its own prompt, as a step's groups are), written under `out`: a step alone, as stock TRL's (no probe, no
    checkpoints). `extra` is merged in at the top level."""
    rows = [
        {
            "uuid": f"bench-{i}",
            "messages": [
                {"role": "user", "content": prompt_text(args.prompt_len, first=i if distinct else 0)},
                {"role": "assistant", "content": "w5"},
            ],
            "checklists": [[[reply_item("C0")]]],
        }
        for i in range(dialogues)
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "rl.jsonl").write_text("".join(json.dumps(d) + "\n" for d in rows))
    return RLRunConfig.model_validate(
        {
            "model": {"path": str(model_dir), "dtype": args.dtype},
            "data": str(out / "rl.jsonl"),
            "output_dir": str(out),
            "group_size": args.group,
            "dialogues_per_step": dialogues,
            "max_steps": args.steps,
            "learning_rate": 1e-6,
            "use_cpu": args.device == "cpu",
            "bf16": args.dtype == "bfloat16",
            "report_to": [],
            "save_steps": 10**6,
            "probe": {"every_steps": 0},  # the step alone, as stock TRL's
            "episode": {
                "sampling": {"max_new_tokens": args.completion_len},
                "limits": {"max_steps_per_turn": 1, "max_context_tokens": args.prompt_len + args.completion_len + 64},
            },
            **extra,
        }
    )


def instant_judge() -> RuleJudge:
    """A no-latency judge, so that the comparison measures the trainer, not a judge server."""
    return RuleJudge(even_length)


def cm2_grpo(model_dir: Path, args: argparse.Namespace, out: Path) -> tuple[float, list[float]]:
    run_rl(bench_rl_config(model_dir, args, out, args.dialogues), make_env=HybridToolSimulator, judge=instant_judge())
    log = json.loads((out / "train_log.json").read_text())
    return tokens_per_second(log)


def step_arguments(
    parser: argparse.ArgumentParser, *, shape: str, vocab: int, dialogues: int, prompt: int, completion: int, steps: int
) -> None:
    """The flags `bench_rl_config` reads (and --device, --out), with these defaults."""
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--shape", default=shape, choices=sorted(SHAPES))
    parser.add_argument("--vocab", type=int, default=vocab)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--dialogues", type=int, default=dialogues, help="groups per optimizer step")
    parser.add_argument("--prompt-len", type=int, default=prompt)
    parser.add_argument("--completion-len", type=int, default=completion)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--dtype", default="bfloat16", help="float32 on the CPU")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")


def settle(args: argparse.Namespace) -> argparse.Namespace:
    """Parsed `step_arguments`: float32 on the CPU, TRL's experimental-feature warnings off."""
    if args.device == "cpu":
        args.dtype = "float32"
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    step_arguments(parser, shape="qwen3-0.6b", vocab=151_936, dialogues=4, prompt=512, completion=256, steps=4)
    parser.add_argument("--tiny", action="store_true", help="shortcut: --shape tiny --vocab 4096, short lengths")
    args = parser.parse_args()
    if args.tiny:
        args.shape, args.vocab, args.prompt_len, args.completion_len = "tiny", 4096, 32, 16
    settle(args)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build(Path(tmp) / "model", args.shape, args.vocab)
        t0 = time.perf_counter()
        stock, stock_times = stock_trl(model_dir, args, Path(tmp) / "stock")
        t1 = time.perf_counter()
        ours, our_times = cm2_grpo(model_dir, args, Path(tmp) / "cm2")
        t2 = time.perf_counter()
    result = {
        "shape": args.shape,
        "vocab": args.vocab,
        "group": args.group,
        "dialogues_per_step": args.dialogues,
        "prompt_len": args.prompt_len,
        "completion_len": args.completion_len,
        "steps": args.steps,
        "stock_trl_tokens_per_s": round(stock, 1),
        "cm2_tokens_per_s": round(ours, 1),
        "ratio_cm2_over_stock": round(ours / stock, 3),
        "stock_step_times_s": [round(t, 3) for t in stock_times],
        "cm2_step_times_s": [round(t, 3) for t in our_times],
        "wall_s": {"stock": round(t1 - t0, 1), "cm2": round(t2 - t1, 1)},
    }
    print(json.dumps(result, indent=2))
    print(f"tokens/s: stock TRL {stock:,.0f} | cm2 {ours:,.0f} | ratio {ours / stock:.2f}x (goal >= 1.0x)")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
