"""Small models and checks shared by the trainlab.morph tests (exposed through the ``kit`` fixture)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """conv-bn-relu-pool twice, a dynamic view into two linear layers (16x16 inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12)
        self.fc1, self.fc2 = nn.Linear(12 * 4 * 4, 20), nn.Linear(20, 5)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # (B, 8, 8, 8)
        x = F.avg_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # (B, 12, 4, 4)
        x = x.view(x.size(0), -1)  # (B, 192)
        return self.fc2(self.act(self.fc1(x)))


class LeNet(nn.Module):
    """The tutorial LeNet with a hard-coded ``view(-1, 16 * 5 * 5)`` (32x32 inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 24), nn.Linear(24, 16), nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 16 * 5 * 5)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Block(nn.Module):
    """A post-activation residual block; a 1x1 conv shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.short(x))


class TinyResNet(nn.Module):
    """Two stages of residual blocks (the second starts by downsampling), mean-pooled head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.stage1 = nn.Sequential(Block(8, 8), Block(8, 8))
        self.stage2 = nn.Sequential(Block(8, 16, stride=2), Block(16, 16))
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage2(self.stage1(self.stem(x)))
        return self.head(x.mean((2, 3)))


class ConcatNet(nn.Module):
    """Inception-like: two branches concatenated, normalised, read by a conv and a flattening linear."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 6, 1), nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(10)
        self.mix = nn.Conv2d(10, 8, 3, padding=1)
        self.fc = nn.Linear((10 + 8) * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(torch.cat([self.a(x), self.b(x)], 1)))  # (B, 10, 8, 8)
        h = torch.cat([h, F.relu(self.mix(h))], dim=1)  # (B, 18, 8, 8)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 2), 1))


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial affine parameters and running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def max_delta(before: nn.Module, after: nn.Module, shape: tuple[int, ...], draws: int = 2) -> float:
    """max |after(x) - before(x)| over fresh U(-1, 1) batches, both in eval mode, float32."""
    before.eval(), after.eval()
    worst = 0.0
    with torch.no_grad():
        for _ in range(draws):
            x = torch.rand(shape) * 2 - 1
            worst = max(worst, float((after(x) - before(x)).abs().max()))
    return worst


def trains(model: nn.Module, shape: tuple[int, ...], classes: int, steps: int = 6,
           lr: float = 0.05) -> tuple[float, float]:
    """Training-mode loss on one fixed batch before and after a few SGD steps (same dropout masks)."""
    from trainlab.morph import rebuild_optimizer

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(shape, generator=g), torch.randint(0, classes, (shape[0],), generator=g)
    model.train()

    def loss_now() -> float:
        torch.manual_seed(7)
        with torch.no_grad():
            return float(F.cross_entropy(model(x), y))

    first = loss_now()
    base = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=lr, momentum=0.9)
    opt = rebuild_optimizer(base, model, lr_rule="keep")
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return first, loss_now()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(1234)


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    return SimpleNamespace(MLP=MLP, SmallCNN=SmallCNN, LeNet=LeNet, Block=Block,
                           TinyResNet=TinyResNet, ConcatNet=ConcatNet,
                           randomize_norms=randomize_norms, max_delta=max_delta, trains=trains)
