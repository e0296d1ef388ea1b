"""Device handling and checkpoints for methods that use PyTorch.

Imported only by torch methods (never by the harness at large), so that listing methods
and building leaderboards do not need torch.

- `resolve_device`: ``"auto"`` is CUDA when available, else CPU.
- `autocast`: bf16 autocast on CUDA (the papers' mixed precision); a no-op on the CPU.
- `full_precision`: within it, float32 everywhere (no autocast, no TF32): to compare
  CUDA with the CPU.
- `seed_everything`: seeds Python, NumPy and torch (all devices) for one fit.
- `save_checkpoint` / `load_checkpoint`: config + weights + versions, loaded with
  ``weights_only=True`` (never unpickles arbitrary objects).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

import neuronbench
from neuronbench.errors import NeuronbenchError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise NeuronbenchError(f"device {device!r} requested but CUDA is not available; use --device auto or cpu")
    return torch.device(device)


_FULL_PRECISION = False  # set by `full_precision`


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA; full precision on the CPU and within `full_precision`."""
    if device.type == "cuda" and not _FULL_PRECISION:
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Within: `autocast` does nothing and CUDA matmuls and convolutions do not use TF32,
    so that a forward pass on CUDA can be compared with the CPU's; restored after."""
    global _FULL_PRECISION
    switches = _tf32_switches()
    before = _FULL_PRECISION, [getattr(obj, name) for obj, name, _ in switches]
    _FULL_PRECISION = True
    for obj, name, off in switches:
        setattr(obj, name, off)
    try:
        yield
    finally:
        _FULL_PRECISION = before[0]
        for (obj, name, _), value in zip(switches, before[1]):
            setattr(obj, name, value)


def _tf32_switches() -> list[tuple[Any, str, Any]]:
    """(object, attribute, value turning TF32 off) of this torch's TF32 settings: the
    ``fp32_precision`` API since torch 2.9 (where the ``allow_tf32`` flags are deprecated)."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        cudnn = torch.backends.cudnn
        return [(torch.backends.cuda.matmul, "fp32_precision", "ieee"), (cudnn.conv, "fp32_precision", "ieee"),
                (cudnn.rnn, "fp32_precision", "ieee")]
    return [(torch.backends.cuda.matmul, "allow_tf32", False), (torch.backends.cudnn, "allow_tf32", False)]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op CPU threads (None: leave torch's setting), then restore."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> torch.Generator:
    """Seed every generator a fit may touch; returns a CPU torch.Generator for sampling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def save_checkpoint(path: Path, config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor],
                    **extra: Any) -> None:
    """Write config + weights + versions (plain types and tensors only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(
        {
            "config": dict(config),
            "state_dict": dict(state_dict),
            "versions": {"neuronbench": neuronbench.__version__, "torch": str(torch.__version__)},
            **extra,
        },
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (``weights_only=True``)."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise NeuronbenchError(f"{path}: not a readable checkpoint ({e})") from None
    for key in ("config", "state_dict", "versions"):
        if key not in ckpt:
            raise NeuronbenchError(f"{path}: field {key!r} missing from the checkpoint")
    return ckpt
