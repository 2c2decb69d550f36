r"""Tutorial: write an attention operator and prove it satisfies Theorem 1.

Theorem 1 of [AGC]: the attentive convolution is equivariant iff
A[L_g f](g', g~) = A[f](g^-1 g', g^-1 g~). For an operator on one signal (input-level or
co-domain attention) this reads A[L_g f] = L_g A[f]: the weights must move like the signal.

We write an orientation-attention operator
    alpha(x, h) = sigmoid( sum_h~ W(h^-1 h~) s(h~) ),  s(h~) = mean over channels and space,
whose weights depend on the *relative* element h^-1 h~ (read off the Cayley table), check it
with ``check_theorem1``, then break it (an unstructured matrix W(h, h~)) and watch the check
fail. Run: ``python docs/tutorials/attention_operator.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gattn.attention import SignalAttention
from gattn.groups import finite_tables, p4, p4m
from gattn.testing.theorem1 import check_theorem1


class OrientationAttention(SignalAttention):
    """alpha(x, h) = sigmoid(sum_h~ W(h^-1 h~) s(h~)): one weight per relative element."""

    def __init__(self, group) -> None:
        super().__init__(position="input")
        stab = group.stabiliser
        self.register_buffer("relative", finite_tables(stab).relative)  # [i, j]: h_i^-1 h_j
        self.weight = nn.Parameter(torch.randn(stab.order))

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=(1, 3, 4))  # (B, |H|) — invariant statistics per orientation
        w = self.weight[self.relative]  # (|H|, |H|): W(h^-1 h~), a "group convolution" on H
        alpha = torch.sigmoid(s @ w.T)  # (B, |H|)
        return alpha[:, None, :, None, None]  # broadcast over channels and space


class BrokenOrientationAttention(OrientationAttention):
    """The same with an unstructured W(h, h~): it ignores the group structure."""

    def __init__(self, group) -> None:
        super().__init__(group)
        n = group.stabiliser.order
        self.weight = nn.Parameter(torch.randn(n, n))

    def forward(self, x: Tensor) -> Tensor:
        alpha = torch.sigmoid(x.mean(dim=(1, 3, 4)) @ self.weight.T)
        return alpha[:, None, :, None, None]


def main() -> None:
    torch.manual_seed(0)
    for group in (p4(), p4m()):
        n = group.stabiliser.order
        f = torch.randn(2, 3, n, 9, 9, dtype=torch.float64)  # a random signal, not a lifted image
        good = check_theorem1(OrientationAttention(group).double(), group, f)
        bad = check_theorem1(BrokenOrientationAttention(group).double(), group, f)
        print(
            f"{group.name}: relative-element operator error {good.relative:.1e} (passed: "
            f"{good.passed}); unstructured operator error {bad.relative:.1e} (passed: "
            f"{bad.passed})"
        )
        assert good.passed and good.relative < 1e-12
        assert not bad.passed and bad.relative > 1e-3

    # the shipped operators pass the same check, e.g. equivariant spatial attention
    from gattn.attention import SignalSpatialAttention

    group = p4()
    op = SignalSpatialAttention(group).double()
    rep = check_theorem1(op, group, torch.randn(2, 3, 4, 9, 9, dtype=torch.float64))
    assert rep.passed
    print(f"SignalSpatialAttention on p4: error {rep.relative:.1e}")


if __name__ == "__main__":
    main()
