"""The KV cache of the ragged batch: one slot per row, rows of any length, no whole-cache copies.

Every layer's keys and values live in one buffer of shape ``(layers, 2, rows, kv_heads,
length, head_dim)``. Row ``i`` holds its ``lens[i]`` cached tokens at the start of its slot
(no padding: a row's tokens are at columns ``0 .. lens[i]-1``, its next one goes at
``lens[i]``). So:

- a decoded token of each row is written in place, at ``(row, lens[row])``;
- a new request is written into a free slot, its prompt at columns ``0 .. len-1``;
- a finished row is removed by moving the last rows into the holes it leaves (copying only
  the moved rows), not by rebuilding the batch.

The engine's padded batch did a copy of the whole cache for each of these (``torch.cat`` to
merge, ``index_select`` to drop, and a reallocation at the next append): on the mixed
workload at 32 rows that was about 40 ms each time a request joined or left.

The buffer grows (with headroom) when more rows or a longer row need room, and shrinks when
it is far larger than what the rows use, so memory follows the rows being served.
"""

from __future__ import annotations

import torch

HEADROOM = 64
"""Columns of spare room added when the buffer grows in length (at least; a quarter more for long rows)."""

ROW_STEP = 8
"""Rows are allocated in multiples of this."""


class SlotCache:
    """Keys and values of the rows of a ragged batch (see the module docstring)."""

    def __init__(self, layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype, device: torch.device) -> None:
        self.shape = (layers, 2, kv_heads, head_dim)
        self.dtype = dtype
        self.device = device
        self.buffer: torch.Tensor | None = None
        self.lens: list[int] = []

    def __len__(self) -> int:
        return len(self.lens)

    @property
    def capacity(self) -> tuple[int, int]:
        """``(rows, length)`` the buffer has room for."""
        if self.buffer is None:
            return 0, 0
        return self.buffer.shape[2], self.buffer.shape[4]

    def clear(self) -> None:
        """Drop every row and the buffer."""
        self.buffer, self.lens = None, []

    def layer(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``index``'s keys and values, each ``(rows, kv_heads, length, head_dim)`` (the whole buffer)."""
        assert self.buffer is not None
        return self.buffer[index, 0], self.buffer[index, 1]

    def reserve(self, rows: int, length: int) -> None:
        """Make room for ``rows`` rows of up to ``length`` tokens, keeping what the rows hold."""
        have_rows, have_length = self.capacity
        if rows <= have_rows and length <= have_length:
            return
        rows = max(rows, have_rows)
        length = max(length, have_length)
        self._reallocate(-(-rows // ROW_STEP) * ROW_STEP, length + max(HEADROOM, length // 4))

    def _reallocate(self, rows: int, length: int) -> None:
        layers, two, kv_heads, head_dim = self.shape
        grown = torch.zeros((layers, two, rows, kv_heads, length, head_dim), dtype=self.dtype, device=self.device)
        used, longest = len(self.lens), max(self.lens, default=0)
        if self.buffer is not None and used and longest:
            grown[:, :, :used, :, :longest] = self.buffer[:, :, :used, :, :longest]
        self.buffer = grown

    def write(
        self, index: int, where: tuple[torch.Tensor, torch.Tensor], keys: torch.Tensor, values: torch.Tensor
    ) -> None:
        """Store layer ``index``'s new ``keys``/``values`` (``(tokens, kv_heads, head_dim)``).

        ``where`` is ``(rows, columns)``: the slot and column of each token.
        """
        cache_keys, cache_values = self.layer(index)
        rows, columns = where
        cache_keys[rows, :, columns] = keys
        cache_values[rows, :, columns] = values

    def remove(self, keep: list[int]) -> list[int]:
        """Keep only the rows ``keep``; returns their new order (old indices, by new slot).

        Rows past the new end move into the holes left before it; no other row is copied.
        """
        count = len(keep)
        if count == len(self.lens):
            return list(range(count))
        if not count:
            self.clear()
            return []
        holes = sorted(set(range(count)) - set(keep))
        movers = [row for row in keep if row >= count]
        order = list(range(count))
        if holes:
            assert self.buffer is not None
            longest = max(self.lens[row] for row in movers)
            into = torch.tensor(holes, device=self.device)
            source = torch.tensor(movers, device=self.device)
            self.buffer[:, :, into, :, :longest] = self.buffer[:, :, source, :, :longest]
            for hole, mover in zip(holes, movers, strict=True):
                order[hole] = mover
        self.lens = [self.lens[row] for row in order]
        self._shrink()
        return order

    def _shrink(self) -> None:
        """Give memory back when the buffer is more than twice what the rows use (and sizeable)."""
        rows, length = self.capacity
        used, longest = len(self.lens), max(self.lens, default=0)
        wanted_rows = -(-used // ROW_STEP) * ROW_STEP
        wanted_length = longest + max(HEADROOM, longest // 4)
        if rows > 2 * wanted_rows or length > 2 * wanted_length:
            self._reallocate(wanted_rows, wanted_length)
