"""The CPU kernels the hf backend picks give the results of the plain ones."""

from __future__ import annotations

import pytest
import torch

from lf.cpu_prepack import PLAIN_ROWS, prepack_linears


@pytest.mark.parametrize("rows", [1, PLAIN_ROWS, PLAIN_ROWS + 1, 8])
def test_a_prepacked_linear_equals_f_linear_at_any_number_of_rows(rows):
    layer = torch.nn.Linear(64, 48)
    reference = torch.nn.Linear(64, 48)
    reference.load_state_dict(layer.state_dict())
    if not prepack_linears(layer):
        pytest.skip("oneDNN prepacking is not available here")
    x = torch.randn(rows, 64, generator=torch.Generator().manual_seed(rows))
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), reference(x), rtol=1e-5, atol=1e-6)
