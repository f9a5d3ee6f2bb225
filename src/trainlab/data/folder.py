"""Image datasets read from ``<split>/<class>/<image>`` folders (the torchvision ImageFolder layout).

:func:`trainlab.data.rejig.apply_rejig` writes this layout. Every image is decoded with PIL,
converted to grayscale (``L``) or ``RGB`` and resized to one ``(H, W)``, so a batch stacks into a
``uint8`` tensor ``(B, C, H, W)``; scaling to floats and augmentation belong to the transforms.

Example:
    >>> from pathlib import Path
    >>> classes = find_classes(Path("faces_split/train"))                   # doctest: +SKIP
    >>> ds = ImageFolderDataset(Path("faces_split/valid"), classes,
    ...                         image_size=(48, 48), channels=1)            # doctest: +SKIP
    >>> image, label = ds[0]                                                # doctest: +SKIP
    >>> image.shape, image.dtype                                            # doctest: +SKIP
    (torch.Size([1, 48, 48]), torch.uint8)
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ConfigError, DataError
from .. import images
from .memory import check_memory
from .rejig import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

_MODES = {1: "L", 3: "RGB"}


def find_classes(split_dir: Path) -> list[str]:
    """Sorted names of the class sub-folders of ``split_dir`` (hidden folders skipped).

    Sorting the names gives the class indices, as torchvision's ``ImageFolder`` does; take them
    from the training split and pass the same list to every split.

    Raises:
        DataError: ``split_dir`` is missing or holds no sub-folder.

    Example:
        >>> find_classes(Path("faces_split/train"))                         # doctest: +SKIP
        ['happy', 'sad']
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DataError(f"image folder {split_dir} does not exist or is not a folder; pass a split folder "
                        "such as data/train that holds one sub-folder per class.")
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"image folder {split_dir} has no class sub-folders; put the images of each class "
                        f"in {split_dir}/<class>/ (trainlab rejig builds this layout).")
    return classes


def read_image(path: Path, *, image_size: tuple[int, int], channels: int) -> torch.Tensor:
    """Decode one image file to a ``uint8`` tensor ``(C, H, W)`` of the given size and channels.

    The file is read by :func:`trainlab.images.read_image`: EXIF orientation applied (as viewers show
    it), color images become grayscale with PIL's ``L`` conversion (ITU-R 601-2 luma), grayscale images
    become ``RGB`` by repeating the channel, 16-bit grayscale is scaled to 8 bits; images whose size differs
    from ``image_size`` are resized with bilinear filtering (aspect ratio not kept).

    Args:
        path: the image file (any format PIL reads; animated files give their first frame).
        image_size: ``(H, W)`` of the result.
        channels: 1 (grayscale) or 3 (RGB).

    Raises:
        DataError: the file is missing, corrupt, not an image or too large; the message names the file.

    Example:
        >>> read_image(Path("faces/a.png"), image_size=(48, 64), channels=3).shape  # doctest: +SKIP
        torch.Size([3, 48, 64])
    """
    size = _check_size(image_size)
    _check_channels(channels)
    array = images.read_image(path, channels=channels, size=size)  # (H, W, C)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class ImageFolderDataset(torch.utils.data.Dataset):
    """The images of one split folder, as ``(uint8 tensor (C, H, W), class index)`` pairs.

    ``split_dir`` holds one sub-folder per name of ``class_names`` (searched recursively, hidden
    entries skipped); the label of a file is the index of its folder's name in ``class_names``.
    Files are listed once, at construction, ordered by class index and then path; images are
    decoded when an item is read, so a corrupt file raises only then.

    Attributes:
        class_names: the class names, index = label.
        files: the image paths, in item order.
        targets: the label of each file.

    Raises:
        DataError: ``split_dir`` missing, a class folder missing, a folder of a class not in
            ``class_names``, or no image at all.
        ConfigError: bad ``image_size`` or ``channels``.

    Example:
        >>> ds = ImageFolderDataset(Path("split/train"), ["cat", "dog"],
        ...                         image_size=(32, 32), channels=3)        # doctest: +SKIP
        >>> loader = torch.utils.data.DataLoader(ds, batch_size=64)         # doctest: +SKIP
        >>> images, labels = next(iter(loader))  # (64, 3, 32, 32) uint8, (64,) int64  # doctest: +SKIP
    """

    def __init__(self, split_dir: Path, class_names: Sequence[str], *, image_size: tuple[int, int],
                 channels: int) -> None:
        self.split_dir = Path(split_dir)
        self.class_names = list(class_names)
        self.image_size = _check_size(image_size)
        self.channels = channels
        _check_channels(channels)
        self._check_class_folders()

        self.files: list[Path] = []
        self.targets: list[int] = []
        for label, name in enumerate(self.class_names):
            found = _image_files(self.split_dir / name)
            if not found:
                log.warning("class folder %s holds no image", self.split_dir / name)
            self.files += found
            self.targets += [label] * len(found)
        if not self.files:
            raise DataError(f"image folder {self.split_dir} holds no image in its class folders "
                            f"({', '.join(self.class_names)}; extensions {', '.join(IMAGE_EXTENSIONS)}). "
                            "Check the path, or build the split with trainlab rejig.")

    @property
    def sample_ids(self) -> list[str]:
        """Each file's path relative to the folder above the split (``train/cat/1.png``): what identifies a
        sample wherever the dataset is moved."""
        return [f.relative_to(self.split_dir.parent).as_posix() for f in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = read_image(self.files[index], image_size=self.image_size, channels=self.channels)
        return image, self.targets[index]

    def to_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode every image into memory: ``uint8 (N, C, H, W)`` images and ``int64 (N,)`` labels."""
        check_memory(len(self) * self.channels * self.image_size[0] * self.image_size[1],
                     f"{len(self)} images of {self.channels}×{self.image_size[0]}×{self.image_size[1]}",
                     hint="Lower image_size, or read the images as they are needed.")
        images = torch.empty((len(self), self.channels, *self.image_size), dtype=torch.uint8)
        for i, path in enumerate(self.files):
            images[i] = read_image(path, image_size=self.image_size, channels=self.channels)
        return images, torch.tensor(self.targets, dtype=torch.int64)

    def _check_class_folders(self) -> None:
        if len(set(self.class_names)) != len(self.class_names) or not self.class_names:
            raise DataError(f"class_names must be a non-empty list of distinct names; got {self.class_names}. "
                            "Pass find_classes(<train split folder>).")
        on_disk = find_classes(self.split_dir)
        missing = [c for c in self.class_names if c not in on_disk]
        extra = [c for c in on_disk if c not in self.class_names]
        if missing:
            raise DataError(f"image folder {self.split_dir} has no folder for class(es) {missing}; every "
                            f"split needs one folder per class ({self.class_names}). Create the folder "
                            "(it may stay empty) or rebuild the split with trainlab rejig.")
        if extra:
            raise DataError(f"image folder {self.split_dir} has folder(s) {extra} for classes not in "
                            f"{self.class_names}; remove them or take the class list from this split.")


def _image_files(class_dir: Path) -> list[Path]:
    """Image files under ``class_dir``, recursively, in sorted path order, hidden entries skipped."""
    found: list[Path] = []
    for root, dirs, files in os.walk(class_dir, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root) / f for f in files
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return sorted(found)


def _check_size(image_size: tuple[int, int]) -> tuple[int, int]:
    ok = (isinstance(image_size, Sequence) and len(image_size) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in image_size))
    if not ok:
        raise ConfigError(f"image_size must be two positive integers (height, width); got {image_size!r}. "
                          "Use e.g. image_size=(48, 48).")
    return int(image_size[0]), int(image_size[1])


def _check_channels(channels: int) -> str:
    if channels not in _MODES or isinstance(channels, bool):
        raise ConfigError(f"channels must be 1 (grayscale) or 3 (RGB); got {channels!r}.")
    return _MODES[channels]
