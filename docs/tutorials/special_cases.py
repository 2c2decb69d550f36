"""Drop-in: swap a CNN's own SE / CBAM modules for gattn's, then make the network equivariant.

1. A user's existing ResNet-style block with its own squeeze-and-excitation and CBAM modules
   (written from the papers: FC layers without bias as in their equations).
2. The same block with ``gattn.attention.prior.SqueezeExcitation`` / ``CBAM`` (trivial group,
   weights copied): identical outputs.
3. ``group=p4()``: lifting / group convolutions, group batch norm and the equivariant SE / CBAM
   — an exactly rotation-equivariant network (checked with ``assert_equivariant``).
4. A *trained* CBAM in timm's layout (``channel.fc1/fc2``, ``spatial.conv.conv`` +
   ``spatial.conv.bn``: a batch norm after the 7x7 convolution) loaded with
   ``CBAM.from_timm``: the same outputs, and with ``group=p4()`` its equivariant version.

Run: ``python docs/tutorials/special_cases.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from gattn.attention.prior import CBAM, SqueezeExcitation
from gattn.groups import p4
from gattn.nn import GroupBatchNorm, GroupConv, LiftingConv
from gattn.testing import assert_equivariant


# --- 1. the user's existing code -------------------------------------------------------------
class UserSE(nn.Module):
    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(c, c // r, bias=False), nn.Linear(c // r, c, bias=False)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * s[:, :, None, None]


class UserCBAM(nn.Module):
    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(c, c // r, bias=False), nn.Linear(c // r, c, bias=False)
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)

    def forward(self, x):
        mlp = lambda s: self.fc2(torch.relu(self.fc1(s)))  # noqa: E731
        x = x * torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))[:, :, None, None]
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(s))


class Block(nn.Module):
    """conv-BN-ReLU-conv-BN, attention, + identity, ReLU (a torchvision-style basic block)."""

    def __init__(self, c: int, attention: nn.Module, conv=None, bn=None) -> None:
        super().__init__()
        conv = conv or (lambda: nn.Conv2d(c, c, 3, padding=1, bias=False))
        bn = bn or (lambda: nn.BatchNorm2d(c))
        self.conv1, self.bn1, self.conv2, self.bn2 = conv(), bn(), conv(), bn()
        self.attention = attention

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(self.attention(out) + x)


def user_net(c: int = 8) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, c, 3, padding=1), Block(c, UserSE(c)), Block(c, UserCBAM(c)))


# --- 2. swap in gattn's modules (trivial group: the published modules) -----------------------
def gattn_net(c: int = 8, group=None) -> nn.Sequential:
    if group is None:  # plain CNN, gattn attention
        return nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1),
            Block(c, SqueezeExcitation(c, 4)),
            Block(c, CBAM(c, 4)),
        )
    conv = lambda: GroupConv(group, c, c, 3, padding=1, bias=False)  # noqa: E731
    bn = lambda: GroupBatchNorm(c)  # noqa: E731
    return nn.Sequential(
        LiftingConv(group, 3, c, 3, padding=1),
        Block(c, SqueezeExcitation(c, 4, group=group), conv, bn),
        Block(c, CBAM(c, 4, group=group), conv, bn),
    )


def copy_weights(user: nn.Sequential, ours: nn.Sequential) -> None:
    """Convs and BNs by name; SE / CBAM parameters into the generic operators."""
    state = {k: v for k, v in user.state_dict().items() if ".attention." not in k}
    ours.load_state_dict(state, strict=False)
    se, cbam = ours[1].attention.operator, ours[2].attention.operator
    with torch.no_grad():
        se.w1[0].copy_(user[1].attention.fc1.weight)
        se.w2[0].copy_(user[1].attention.fc2.weight)
        channel, spatial = cbam.operators
        channel.w1[0].copy_(user[2].attention.fc1.weight)
        channel.w2[0].copy_(user[2].attention.fc2.weight)
        spatial.weight.copy_(user[2].attention.conv.weight.unsqueeze(2))


# --- 4. a trained CBAM with timm's parameter names (timm's CbamModule has this layout) ------
class TimmLayoutCBAM(nn.Module):
    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.channel = nn.Module()
        self.channel.fc1 = nn.Conv2d(c, hidden, 1, bias=False)
        self.channel.fc2 = nn.Conv2d(hidden, c, 1, bias=False)
        self.spatial = nn.Module()
        self.spatial.conv = nn.Module()
        self.spatial.conv.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.spatial.conv.bn = nn.BatchNorm2d(1)

    def forward(self, x):
        mlp = lambda s: self.channel.fc2(torch.relu(self.channel.fc1(s)))  # noqa: E731
        x = x * torch.sigmoid(mlp(x.mean((2, 3), keepdim=True)) + mlp(x.amax((2, 3), keepdim=True)))
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial.conv.bn(self.spatial.conv.conv(s)))


def trained_timm_cbam(c: int = 24) -> dict[str, float]:
    """Load a (here: randomly "trained") timm-layout CBAM's state dict into gattn's CBAM."""
    user = TimmLayoutCBAM(c, hidden=2).double()  # timm rounds 24 / 16 = 1.5 up to 2
    with torch.no_grad():
        user.spatial.conv.bn.running_mean.fill_(0.3)
        user.spatial.conv.bn.running_var.fill_(2.0)
    ours = CBAM.from_timm(user.state_dict())  # norm="batch", hidden_channels=2, float64
    x = torch.randn(3, c, 10, 10, dtype=torch.float64)
    out = {}
    for mode in ("train", "eval"):
        user.train(mode == "train")
        ours.train(mode == "train")
        with torch.no_grad():
            out[f"timm_cbam_{mode}"] = float((user(x) - ours(x)).abs().max())
    equivariant = CBAM.from_timm(user.state_dict(), group=p4()).eval()
    signal = torch.randn(2, c, 4, 9, 9, dtype=torch.float64)
    out["timm_cbam_p4_equivariance"] = assert_equivariant(
        equivariant, p4(), signal, atol=1e-10
    ).relative
    return out


def main() -> dict[str, float]:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    user, ours = user_net(), gattn_net()
    copy_weights(user, ours)
    results = {}
    for mode in ("train", "eval"):
        user.train(mode == "train")
        ours.train(mode == "train")
        with torch.no_grad():
            err = float((user(x) - ours(x)).abs().max())
        assert err <= 1e-6, f"drop-in mismatch in {mode} mode: {err}"
        results[f"dropin_{mode}"] = err

    # --- 3. the equivariant network: group=p4() ------------------------------------------------
    net = gattn_net(group=p4()).double().eval()
    x64 = torch.randn(2, 3, 15, 15, dtype=torch.float64)
    results["p4_equivariance"] = assert_equivariant(net, p4(), x64, atol=1e-10).relative

    # --- 4. a trained timm CBAM -----------------------------------------------------------
    results.update(trained_timm_cbam())
    return results


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k}: {v:.2e}")
