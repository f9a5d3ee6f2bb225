"""The YOLO label format (ultralytics' folders): read a dataset into memory, or write one.

    root/data.yaml                 path (optional), train, val, test (optional), names (or nc)
    root/images/{train,val,test}/  image files
    root/labels/{train,val,test}/  one <image stem>.txt per image: "class cx cy w h" per line, normalized
                                   to 0-1, 0-based class; a missing or empty file is an image without boxes
                                   (counted in the log), but a split without any label file or box is an error

As in ultralytics, a split in data.yaml is a folder of images, a .txt file listing image paths, or a list
of either; an image's label file is found by replacing the last ``/images/`` of its path with
``/labels/``; ``names`` is a list or a {index: name} mapping. A malformed line, a class outside
``names`` or a box outside the image (beyond a 0.01 tolerance, which is clipped) is an error naming the
file and line (ultralytics skips such images with a warning; a silent skip hides a broken export).
Images are read as a viewer shows them (EXIF orientation applied, :func:`trainlab.images.read_image`),
resized (without letterbox) to ``data.image_size`` (default: the first training image's size, rounded up
to a multiple of 32) and held in memory as uint8; without ``data.channels`` they are read as 1 channel
when every image is grayscale, else as RGB.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..images import image_size as shown_size
from ..images import is_grayscale, read_image
from ..errors import DataError, echo
from .data import DetectionSplit, make_split

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}
TOLERANCE = 0.01  # normalized coordinates in [-0.01, 1.01] are accepted and clipped (ultralytics does too)


def _find_yaml(root: str | Path | None) -> Path:
    if not root:
        raise DataError("dataset 'yolo-folder' needs data.root: the folder with data.yaml (or the yaml file itself).")
    path = Path(root).expanduser()
    if path.is_dir():
        candidates = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        yaml_file = path / "data.yaml" if (path / "data.yaml").is_file() else (candidates[0] if len(candidates) == 1 else None)
        if yaml_file is None:
            raise DataError(f"yolo-folder: no data.yaml in {str(path)!r}; write one with train, val and names.")
        return yaml_file
    if not path.is_file():
        raise DataError(f"yolo-folder: data.root {str(path)!r} does not exist.")
    return path


def read_data_yaml(path: Path) -> tuple[dict[str, list[Path] | None], list[str]]:
    """The image files of each split ("train", "val", "test": None when absent) and the class names."""
    import yaml

    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise DataError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(spec, dict):
        raise DataError(f"{path}: expected a mapping with train, val and names.")
    base = Path(spec["path"]) if spec.get("path") else path.parent
    if not base.is_absolute():
        base = (path.parent / base) if (path.parent / base).exists() else base
    names = _class_names(spec, path)
    for required in ("train", "val"):
        if not spec.get(required):
            raise DataError(f"{path}: no '{required}' split; data.yaml needs train and val (test is optional).")
    return {s: _images_of(spec[s], base, path) if spec.get(s) else None for s in ("train", "val", "test")}, names


def _class_names(spec: dict, path: Path) -> list[str]:
    """``names`` (a list or a {index: name} mapping) or ``nc`` alone, checked against each other."""
    nc = spec.get("nc")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise DataError(f"{path}: nc must be a whole number of classes, got {echo(nc)}; write e.g. 'nc: 3' "
                        "(or drop nc and list the names).")
    names = spec.get("names")
    if isinstance(names, dict):
        keys = {}
        for key in names:
            if isinstance(key, bool) or not (isinstance(key, int) or (isinstance(key, str) and key.strip().isdigit())):
                raise DataError(f"{path}: names key {echo(key)} is not a class index; names must be a list or a "
                                "mapping keyed 0..n-1, e.g. {0: cat, 1: dog}.")
            keys[int(key)] = key
        if sorted(keys) != list(range(len(names))):
            raise DataError(f"{path}: names must be keyed 0..{len(names) - 1}, got {sorted(keys)}.")
        names = [str(names[keys[i]]) for i in range(len(names))]
    elif isinstance(names, list):
        names = [str(n) for n in names]
    elif names is not None:
        raise DataError(f"{path}: names must be a list or a mapping keyed 0..n-1, got {echo(names)}.")
    elif nc is not None:
        names = [f"class{i}" for i in range(nc)]
    else:
        raise DataError(f"{path}: no 'names' (a list or {{0: name}} mapping) and no 'nc'.")
    if not names:
        raise DataError(f"{path}: names is empty; list the class names.")
    if nc is not None and nc != len(names):
        raise DataError(f"{path}: nc is {nc} but names has {len(names)} entries.")
    return names


def _images_of(entry: str | list, base: Path, yaml_path: Path) -> list[Path]:
    files: list[Path] = []
    for item in entry if isinstance(entry, list) else [entry]:
        p = Path(item)
        p = p if p.is_absolute() else base / p
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file() and p.suffix == ".txt":
            for line in p.read_text().splitlines():
                if line.strip():
                    f = Path(line.strip())
                    files.append(f if f.is_absolute() else (p.parent / f))
        else:
            raise DataError(f"{yaml_path}: split entry {item!r} ({p}) is neither a folder of images nor a .txt list.")
    if not files:
        raise DataError(f"{yaml_path}: split {entry!r} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    return files


def label_path(image: Path) -> Path:
    """The label file of an image: the last ``/images/`` of its path replaced by ``/labels/``, suffix .txt."""
    parts = list(image.parts)
    if "images" in parts:
        i = len(parts) - 1 - parts[::-1].index("images")
        parts[i] = "labels"
    return Path(*parts).with_suffix(".txt")


def read_labels(path: Path, num_classes: int) -> tuple[Tensor, Tensor]:
    """Boxes (n, 4) normalized xyxy and labels (n,) of one label file (empty when the file is missing).

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_text("1 0.5 0.5 0.2 0.4\\n")
        >>> b, l = read_labels(p, num_classes=2); [round(v, 2) for v in b[0].tolist()], l.tolist()
        ([0.4, 0.3, 0.6, 0.7], [1])
    """
    if not path.is_file():
        return torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
    boxes, labels = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{n}"
        if len(fields) != 5:
            raise DataError(f"{where}: expected 'class cx cy w h' (5 numbers), got {len(fields)} fields: {line.strip()!r}"
                            + (" (a segmentation polygon? only boxes are read)" if len(fields) > 5 else "") + ".")
        try:
            k, values = int(fields[0]), [float(v) for v in fields[1:]]
        except ValueError:
            raise DataError(f"{where}: not numbers: {line.strip()!r}; expected an integer class and 4 floats.") from None
        if not 0 <= k < num_classes:
            raise DataError(f"{where}: class {k} is outside names (0-{num_classes - 1}); fix the label or data.yaml.")
        cx, cy, w, h = values
        bad = [f"{name}={v}" for name, v in zip(("cx", "cy", "w", "h"), values) if not math.isfinite(v)]
        if bad:
            raise DataError(f"{where}: box values must be finite numbers, got {', '.join(bad)}: {line.strip()!r}.")
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if w <= 0 or h <= 0:
            raise DataError(f"{where}: box width and height must be positive, got w={w}, h={h}.")
        if min(x1, y1) < -TOLERANCE or max(x2, y2) > 1 + TOLERANCE:
            raise DataError(f"{where}: box {line.strip()!r} reaches outside the image (x {x1:.3f}..{x2:.3f}, "
                            f"y {y1:.3f}..{y2:.3f}; coordinates are normalized to 0-1).")
        boxes.append([min(max(v, 0.0), 1.0) for v in (x1, y1, x2, y2)])
        labels.append(k)
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.long)


def _load_split(name: str, files: list[Path], size: tuple[int, int], channels: int, num_classes: int
                ) -> DetectionSplit:
    """Read one split; a split without label files or without a single box is an error (a wrong folder
    layout would otherwise train on nothing or score -1), images without a label file are background."""
    h, w = size
    images = torch.empty(len(files), channels, h, w, dtype=torch.uint8)
    boxes, labels, unlabelled = [], [], []
    for i, f in enumerate(files):
        images[i] = torch.from_numpy(read_image(f, channels=channels, size=size)).permute(2, 0, 1)
        if not label_path(f).is_file():
            unlabelled.append(f)
        b, k = read_labels(label_path(f), num_classes)
        boxes.append(b * torch.tensor([w, h, w, h], dtype=torch.float32))
        labels.append(k)
    where = label_path(files[0]).parent
    if len(unlabelled) == len(files):
        state = "does not exist" if not where.is_dir() else "holds no label file of these images"
        raise DataError(f"yolo-folder: none of the {len(files)} {name} images has a label file (e.g. "
                        f"{label_path(files[0])}); {where} {state}. Labels go where the image path has "
                        "/labels/ for its last /images/ (or drop the split from data.yaml).")
    if not sum(len(k) for k in labels):
        raise DataError(f"yolo-folder: the {len(files)} {name} images have no boxes at all (every label file "
                        f"under {where} is empty); check the export, or the split entry in data.yaml.")
    if unlabelled:
        log.info("yolo-folder: %d of %d %s images have no label file and are read as background (no boxes), "
                 "e.g. %s", len(unlabelled), len(files), name, unlabelled[0])
    return make_split(images, boxes, labels)


def choose_channels(files: list[Path], dataset: str) -> int:
    """1 when every image of the dataset is grayscale, else 3 (read from the headers), said in the log."""
    grey = sum(is_grayscale(f) for f in files)
    channels = 1 if grey == len(files) else 3
    log.info("%s: reading the images as %s: %d of %d images are %s (set data.channels to choose)", dataset,
             "1 channel (grayscale)" if channels == 1 else "3 channels (RGB)",
             grey if channels == 1 else len(files) - grey, len(files), "grayscale" if channels == 1 else "colour")
    return channels


def default_image_size(first: Path, dataset: str) -> tuple[int, int]:
    """The first training image's (H, W) as shown, rounded up to multiples of 32, said in the log."""
    h, w = shown_size(first)
    size = (int(math.ceil(h / 32) * 32), int(math.ceil(w / 32) * 32))
    log.info("%s: image_size %s (the first training image's %d×%d rounded up to a multiple of 32; set "
             "data.image_size to choose)", dataset, list(size), h, w)
    return size


def read_yolo_dataset(root: str | Path | None, *, image_size: tuple[int, int] | None = None,
                      channels: int | None = None, args: dict[str, Any] | None = None
                      ) -> tuple[dict[str, DetectionSplit | None], list[str]]:
    """Train / valid / test :class:`DetectionSplit` (boxes in pixels of the resized images) and class names.

    ``channels`` None: 1 when every image is grayscale, else 3; ``image_size`` None: the first training
    image's size (as a viewer shows it) rounded up to a multiple of 32. Both choices are logged.

    Example:
        >>> splits, names = read_yolo_dataset("/data/shapes", image_size=(320, 320))  # doctest: +SKIP
        >>> len(splits["train"]), names  # doctest: +SKIP
        (400, ['circle', 'square', 'triangle'])
    """
    if args:
        raise DataError(f"yolo-folder: unknown data.args {sorted(args)}; allowed: ['flip'].")
    yaml_path = _find_yaml(root)
    files, names = read_data_yaml(yaml_path)
    if channels is None:
        channels = choose_channels([f for split in files.values() if split for f in split], "yolo-folder")
    if image_size is None:
        image_size = default_image_size(files["train"][0], "yolo-folder")
    if any(int(v) % 32 for v in image_size):
        raise DataError(f"yolo-folder: data.image_size {list(image_size)} must be multiples of 32 (the detector's "
                        "largest stride).")
    size = (int(image_size[0]), int(image_size[1]))
    splits = {name: _load_split(name, files[key], size, channels, len(names)) if files[key] else None
              for name, key in (("train", "train"), ("valid", "val"), ("test", "test"))}
    return splits, names


def write_yolo_dataset(folder: Path, splits: dict[str, DetectionSplit | None], class_names: list[str]) -> Path:
    """Write splits ("train", "valid", "test") as a YOLO-format folder (PNG images); returns its data.yaml.

    Example:
        >>> import tempfile
        >>> from trainlab.detection.data import make_split
        >>> s = make_split(torch.zeros(1, 1, 32, 32, dtype=torch.uint8), [torch.tensor([[8., 8., 24., 16.]])],
        ...                [torch.tensor([1])])
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = write_yolo_dataset(folder, {"train": s, "valid": s, "test": None}, ["a", "b"])
        >>> (folder / "labels" / "train" / "000000.txt").read_text()
        '1 0.500000 0.375000 0.500000 0.250000\\n'
    """
    from PIL import Image

    folder = Path(folder)
    written = {}
    for name, split in splits.items():
        if split is None:
            continue
        sub = {"valid": "val"}.get(name, name)
        (folder / "images" / sub).mkdir(parents=True, exist_ok=True)
        (folder / "labels" / sub).mkdir(parents=True, exist_ok=True)
        _, c, h, w = split.images.shape
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        for i in range(len(split)):
            pixels = split.images[i].permute(1, 2, 0).contiguous().numpy().tobytes()
            Image.frombytes("L" if c == 1 else "RGB", (w, h), pixels).save(folder / "images" / sub / f"{i:06d}.png")
            keep = split.labels[i] >= 0
            b = split.boxes[i][keep] / scale
            lines = [f"{int(k)} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"
                     for k, (x1, y1, x2, y2) in zip(split.labels[i][keep].tolist(), b.tolist())]
            (folder / "labels" / sub / f"{i:06d}.txt").write_text("".join(line + "\n" for line in lines))
        written[sub] = f"images/{sub}"
    yaml_path = folder / "data.yaml"
    lines = [f"path: {folder.resolve()}", *(f"{k}: {v}" for k, v in written.items()), "names:",
             *(f"  {i}: {json.dumps(n)}" for i, n in enumerate(class_names))]
    yaml_path.write_text("\n".join(lines) + "\n")
    return yaml_path
