"""Tutorial: property-test your own layer with gattn's Hypothesis strategies.

Hypothesis draws the group, the input size (odd and even), the channels and a random group
signal; ``assert_equivariant`` compares layer(L_g x) with L_g layer(x) for every grid element.
A deliberately broken layer shows that the property can fail. Run:
``python docs/tutorials/property_testing.py`` (in a test suite, drop the explicit calls and let
pytest collect the ``test_*`` functions).
"""

from __future__ import annotations

import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from torch import nn

from gattn.groups import p4, p4m
from gattn.nn import GroupBatchNorm, GroupConv
from gattn.testing import EquivarianceError, assert_equivariant, group_signals, load_profile

load_profile()  # "ci" (derandomised) under $CI, else "dev"


class MyBlock(nn.Module):
    """Your layer: group conv -> batch norm (eval) -> ReLU, with a residual connection."""

    def __init__(self, group, channels: int) -> None:
        super().__init__()
        self.conv = GroupConv(group, channels, channels, 3, padding=1)
        self.norm = GroupBatchNorm(channels)

    def forward(self, x):
        return x + torch.relu(self.norm(self.conv(x)))


class MyBrokenBlock(MyBlock):
    """Adds a fixed positional bias: breaks translation/rotation equivariance."""

    def forward(self, x):
        ramp = torch.linspace(0, 1, x.shape[-1], dtype=x.dtype)
        return super().forward(x) + ramp


@st.composite
def configurations(draw):
    group = draw(st.sampled_from([p4(), p4m()]))
    channels = draw(st.integers(1, 3))
    x = draw(group_signals(group, batch=1, channels=channels, size=st.integers(3, 10)))
    return group, channels, x


@settings(max_examples=6, deadline=None, database=None)
@given(configurations())
def test_my_block_is_equivariant(config):
    group, channels, x = config
    torch.manual_seed(0)
    block = MyBlock(group, channels).double().eval()
    assert_equivariant(block, group, x)  # every element of H, float64 tolerance 1e-10


# no shrinking: we only want to see that a counterexample exists
@settings(max_examples=8, deadline=None, phases=[Phase.generate], database=None)
@given(configurations())
def test_my_broken_block_is_equivariant(config):
    group, channels, x = config
    torch.manual_seed(0)
    assert_equivariant(MyBrokenBlock(group, channels).double().eval(), group, x)


def main() -> None:
    test_my_block_is_equivariant()
    print("MyBlock: equivariant on every drawn group, size and channel count")
    try:
        test_my_broken_block_is_equivariant()
    except EquivarianceError as exc:
        print(f"MyBrokenBlock: Hypothesis found a counterexample -> {str(exc)[:80]}...")
    else:
        raise AssertionError("the broken block should have failed")


if __name__ == "__main__":
    main()
