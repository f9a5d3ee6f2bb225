"""Small hand-built models and data for the viz tests."""
import torch
from torch import nn

PLUS = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])


def plus_detector() -> nn.Sequential:
    """Conv whose channel 0 fires on a bright 3×3 plus (zero-mean kernel: flat regions give ~0), then ReLU.

    Channel 1 is the negated detector, so a channel index matters.
    """
    conv = nn.Conv2d(1, 2, 3, bias=False)
    kernel = PLUS - PLUS.mean()
    with torch.no_grad():
        conv.weight[0, 0] = kernel
        conv.weight[1, 0] = -kernel
    return nn.Sequential(conv, nn.ReLU(inplace=True))


def plus_dataset(n: int = 40, size: int = 12, with_plus: tuple[int, ...] = (3, 11, 17, 29, 38), seed: int = 0):
    """Faint noise images; the ones in ``with_plus`` hold a bright plus whose top-left corner is returned."""
    gen = torch.Generator().manual_seed(seed)
    images = 0.1 * torch.rand(n, 1, size, size, generator=gen)
    corners = {}
    for i in with_plus:
        y, x = (int(v) for v in torch.randint(0, size - 2, (2,), generator=gen))
        images[i, 0, y:y + 3, x:x + 3] += PLUS
        corners[i] = (y, x)
    return images, corners


class LeftHalf(nn.Module):
    """A classifier that only looks at the left half of its input."""

    def __init__(self, channels: int = 1, size: int = 8, classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(16, classes)
        self.half = size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[..., : self.half]  # (B, C, H, W/2)
        return self.head(self.pool(self.relu(self.conv(x))).flatten(1))


def small_cnn(channels: int = 1, width: int = 6) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 3),
    )
