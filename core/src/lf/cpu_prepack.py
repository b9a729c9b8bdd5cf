"""CPU speed-up: oneDNN-prepacked weights for every float32 ``nn.Linear`` of a model.

Measured on this project's 2-core EPYC machine (one thread): a 576x1536 linear took 845 ->
527 us at 8 rows and 2147 -> 1471 us at 32 rows (no change at one row), so batched decoding
gains about 1.5x on its matmuls; the router's MiniLM encoder (one query of about a dozen
tokens) about 1.2x. At one or two rows (decoding a single request) the packed kernel loses:
on a Xeon with AVX-512 a whole SmolLM2-135M decode step's linears took 77 ms packed and 45
ms through plain ``F.linear`` (MKL's matrix-vector product reads the weights at memory
bandwidth), so inputs of up to :data:`PLAIN_ROWS` rows keep the plain kernel. The weights
stay in place for LoRA, state dicts and hot swaps; only ``forward`` changes. Used by plugins
that run torch on the CPU (the hf backend, the neural router): importing this module imports
torch, which lf-core itself does not depend on, so nothing else in lf-core imports it.
"""

from __future__ import annotations

import types
from typing import Any

import torch

PLAIN_ROWS = 2
"""Inputs of at most this many rows use plain ``F.linear`` (faster than oneDNN's packed kernel there)."""


def _available() -> bool:
    ops = getattr(torch.ops, "mkldnn", None)
    return bool(
        torch.backends.mkldnn.is_available()
        and ops is not None
        and hasattr(ops, "_reorder_linear_weight")
        and hasattr(ops, "_linear_pointwise")
    )


def prepack_linears(model: Any, batch_hint: int = 32) -> int:
    """Swap the forward of each float32 CPU ``nn.Linear`` for a prepacked oneDNN one; returns how many.

    ``batch_hint`` is the number of rows the layers will usually see (oneDNN picks its
    weight layout for it). The packed copies are not updated when the weights change: pack
    a model used for inference only, or pack again after training it.
    """
    if not _available():
        return 0
    count = 0
    with torch.inference_mode():
        for module in model.modules():
            if type(module) is not torch.nn.Linear:
                continue
            weight = module.weight
            if weight.device.type != "cpu" or weight.dtype != torch.float32:
                continue
            try:
                packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), batch_hint)
                probe = torch.zeros(1, weight.shape[1])
                torch.ops.mkldnn._linear_pointwise(probe, packed, module.bias, "none", [], "")
            except RuntimeError:
                continue
            module._lf_packed = packed
            module.forward = types.MethodType(_packed_forward, module)  # type: ignore[method-assign]
            count += 1
    return count


def _packed_forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if x.dtype != torch.float32 or torch.is_grad_enabled() or x.numel() <= PLAIN_ROWS * x.shape[-1]:
        return torch.nn.functional.linear(x, self.weight, self.bias)
    return torch.ops.mkldnn._linear_pointwise(x, self._lf_packed, self.bias, "none", [], "")
