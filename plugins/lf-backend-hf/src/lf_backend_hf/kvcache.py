"""A KV cache layer that appends in place: decoding a token costs no copy of the whole cache.

transformers' ``DynamicLayer`` grows by ``torch.cat`` at every step, so each decoded token
copies every layer's keys and values: at 32 rows of SmolLM2-135M on this project's CPU that
copy was 40 % of a decode step. :class:`GrowableLayer` keeps keys and values in a buffer
with spare room along the time axis and writes each new token into it, reallocating (with
room to spare again) only when the buffer is full. ``keys`` and ``values`` read as the used
part of the buffer, and assigning them (as the engine's merge and trim do) adopts the given
tensor, so everything that works with a ``DynamicLayer`` works with this one.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicLayer

HEADROOM = 64
"""Tokens of spare room added when a buffer is (re)allocated (at least; half the length for long ones)."""


class _Growing:
    """One tensor of shape ``(batch, heads, time, dim)`` stored with spare room along ``time``."""

    __slots__ = ("buffer", "length")

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None
        self.length = 0

    def view(self) -> torch.Tensor | None:
        if self.buffer is None or self.buffer.dim() != 4:
            return self.buffer
        return self.buffer[:, :, : self.length]

    def adopt(self, tensor: torch.Tensor | None) -> None:
        self.buffer = tensor
        self.length = tensor.shape[2] if tensor is not None and tensor.dim() == 4 else 0

    def append(self, new: torch.Tensor) -> torch.Tensor:
        buffer, length, added = self.buffer, self.length, new.shape[2]
        if buffer is None or buffer.dim() != 4 or length == 0:
            buffer, length = None, 0
        elif buffer.shape[:2] != new.shape[:2] or buffer.shape[3] != new.shape[3]:
            raise ValueError(f"cannot append keys of shape {tuple(new.shape)} to a cache of {tuple(buffer.shape)}")
        needed = length + added
        if buffer is None or needed > buffer.shape[2]:
            room = needed + max(HEADROOM, needed // 2)
            grown = new.new_empty((new.shape[0], new.shape[1], room, new.shape[3]))
            if buffer is not None:
                grown[:, :, :length].copy_(buffer[:, :, :length])
            buffer = grown
        buffer[:, :, length:needed].copy_(new)
        self.buffer, self.length = buffer, needed
        return buffer[:, :, :needed]


class GrowableLayer(DynamicLayer):
    """``DynamicLayer`` with in-place appends (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        self._keys = _Growing()
        self._values = _Growing()
        super().__init__(**kwargs)

    @property
    def keys(self) -> torch.Tensor | None:
        """The cached keys, ``(batch, kv_heads, time, head_dim)`` (a view of the buffer's used part)."""
        return self._keys.view()

    @keys.setter
    def keys(self, tensor: torch.Tensor | None) -> None:
        self._keys.adopt(tensor)

    @property
    def values(self) -> torch.Tensor | None:
        """The cached values, like :attr:`keys`."""
        return self._values.view()

    @values.setter
    def values(self, tensor: torch.Tensor | None) -> None:
        self._values.adopt(tensor)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new keys and values in place; return all of them."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        return self._keys.append(key_states), self._values.append(value_states)


def growable_cache(config: Any) -> Any:
    """A ``DynamicCache`` for ``config`` whose plain dynamic layers append in place."""
    from transformers import DynamicCache

    cache = DynamicCache(config=config)
    cache.layers = [GrowableLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


MERGEABLE_LAYERS = (DynamicLayer, GrowableLayer)
"""Layer types whose rows the engine may merge and trim (full attention, no sliding window)."""
