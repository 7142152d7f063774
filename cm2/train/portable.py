"""A model folder in pieces small enough to travel one per call between machines (the GPU machine takes and
returns at most 64 MiB a call), and back into a folder `from_pretrained` loads.

    python -m cm2.train.portable pack OUT/seed0/sft/final PACK [--max-shard-mib 60]
    python -m cm2.train.portable unpack PACK OUT/seed0/sft/final

`pack` writes the weights as bfloat16 safetensors shards of at most `max_shard_mib` each. `save_pretrained`'s
`max_shard_size` cannot do it alone: it never splits a tensor, and Gemma-3-270M's embedding alone is 320 MiB in
bfloat16, so a tensor larger than a shard is cut into row blocks. The other files (config, tokenizer) are copied
as they are and must each fit a shard. `portable.json` lists every file with its sha256, so `unpack` names any
shard that is missing or damaged before it writes anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from cm2.data.atomic import atomic_dir

MANIFEST = "portable.json"
MIB = 1 << 20
_HEADER_ROOM = 256 * 1024  # a shard's safetensors header (tensor names, shapes, offsets)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        return [folder / name for name in names]
    single = folder / "model.safetensors"
    if not single.is_file():
        raise FileNotFoundError(f"{folder}: no model.safetensors (or its index): not a safetensors model folder")
    return [single]


def _row_blocks(name: str, tensor: Any, budget: int) -> list[tuple[str, Any]]:
    """`tensor` whole when it fits `budget` bytes, else cut along its first dimension into blocks that do."""
    size = tensor.numel() * tensor.element_size()
    if size <= budget:
        return [(name, tensor)]
    if tensor.dim() == 0 or size // tensor.shape[0] > budget:
        raise ValueError(f"{name}: one row of {size // max(1, tensor.shape[0])} bytes exceeds the shard size")
    rows = max(1, budget // (size // tensor.shape[0]))
    return [(f"{name}::rows{start}", tensor[start : start + rows]) for start in range(0, tensor.shape[0], rows)]


def pack_model(
    src: str | Path, dest: str | Path, *, max_shard_mib: float = 60.0, dtype: str = "bfloat16"
) -> list[Path]:
    """Write the model folder `src` into the new folder `dest` as shards of at most `max_shard_mib` MiB each
    (floating-point weights cast to `dtype`); returns every file of `dest`, the manifest last."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    source, target = Path(src), Path(dest)
    limit = int(max_shard_mib * MIB)
    budget = limit - _HEADER_ROOM
    if budget <= 0:
        raise ValueError(f"max_shard_mib {max_shard_mib}: too small for a shard's header")
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target}: not empty; pack into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    cast = getattr(torch, dtype)
    tensors: dict[str, dict[str, Any]] = {}
    shard: dict[str, Any] = {}
    shard_bytes = 0
    shards: list[Path] = []

    def flush() -> None:
        nonlocal shard, shard_bytes
        if shard:
            path = target / f"model-{len(shards) + 1:05d}.safetensors"
            save_file(shard, str(path), metadata={"format": "pt"})
            shards.append(path)
        shard, shard_bytes = {}, 0

    for weights in _weight_files(source):
        with safe_open(str(weights), framework="pt") as reader:
            for name in reader.keys():  # noqa: SIM118 (a safetensors reader is not a mapping)
                tensor = reader.get_tensor(name)
                if tensor.is_floating_point():
                    tensor = tensor.to(cast)
                parts = []
                for key, block in _row_blocks(name, tensor.contiguous(), budget):
                    size = block.numel() * block.element_size()
                    if shard_bytes + size > budget:
                        flush()
                    shard[key] = block.contiguous()
                    shard_bytes += size
                    parts.append([f"model-{len(shards) + 1:05d}.safetensors", key])
                tensors[name] = {"shape": list(tensor.shape), "parts": parts}
    flush()
    others = [p for p in sorted(source.iterdir()) if p.is_file() and not _is_weights(p)]
    for path in others:
        if path.stat().st_size > limit:
            raise ValueError(f"{path}: {path.stat().st_size / MIB:.1f} MiB, more than a shard ({max_shard_mib} MiB)")
        shutil.copy2(path, target / path.name)
    files = [*shards, *(target / p.name for p in others)]
    manifest = {"dtype": dtype, "tensors": tensors, "files": {p.name: _sha256(p) for p in files}}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return [*files, target / MANIFEST]


def _is_weights(path: Path) -> bool:
    return path.suffix in (".safetensors", ".bin", ".pt", ".pth") or path.name.endswith(".index.json")


def unpack_model(src: str | Path, dest: str | Path) -> Path:
    """Check the pack `src` against its manifest and write the folder `dest` (replacing any there): one
    `model.safetensors` and the other files."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    source, target = Path(src), Path(dest)
    manifest_path = source / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: missing (it comes with the pack; bring it too)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    missing = [name for name in manifest["files"] if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source}: {len(missing)} file(s) of the pack missing: {', '.join(missing)}")
    damaged = [name for name, digest in manifest["files"].items() if _sha256(source / name) != digest]
    if damaged:
        raise ValueError(f"{source}: sha256 differs from {MANIFEST} for {', '.join(damaged)} (bring it again)")
    readers: dict[str, Any] = {}
    weights: dict[str, Any] = {}
    for name, entry in manifest["tensors"].items():
        blocks = []
        for file, key in entry["parts"]:
            if file not in readers:
                readers[file] = safe_open(str(source / file), framework="pt")
            blocks.append(readers[file].get_tensor(key))
        tensor = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=0)
        if list(tensor.shape) != entry["shape"]:
            raise ValueError(f"{source}: {name} reassembles to {list(tensor.shape)}, expected {entry['shape']}")
        weights[name] = tensor
    with atomic_dir(target) as folder:  # a folder already at `dest` is replaced whole, once this one is complete
        save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
        for name in manifest["files"]:
            if not name.startswith("model-"):
                shutil.copy2(source / name, folder / name)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cm2.train.portable", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    pack = verbs.add_parser("pack", help="model folder → shards of at most --max-shard-mib MiB")
    pack.add_argument("src", type=Path)
    pack.add_argument("dest", type=Path)
    pack.add_argument("--max-shard-mib", type=float, default=60.0)
    unpack = verbs.add_parser("unpack", help="shards → model folder")
    unpack.add_argument("src", type=Path)
    unpack.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.verb == "pack":
            for path in pack_model(args.src, args.dest, max_shard_mib=args.max_shard_mib):
                print(f"{path.stat().st_size / MIB:8.1f} MiB  {path}")
        else:
            print(unpack_model(args.src, args.dest))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from exc


if __name__ == "__main__":
    main()
