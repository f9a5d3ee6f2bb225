"""COCO JSON detection datasets (``instances_*.json``), as CVAT, Label Studio and Roboflow export them.

    {"images":      [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480}, ...],
     "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [x, y, w, h], "iscrowd": 0}, ...],
     "categories":  [{"id": 3, "name": "car"}, ...]}

One annotations file and one images folder per split. ``data.args.train`` / ``val`` / ``test`` name them (a
file, or ``{"annotations": file, "images": folder}``, relative to ``data.root``); without them the splits are
found as ``annotations/instances_<split>*.json`` (COCO, CVAT) or ``<split>/_annotations.coco.json``
(Roboflow), ``<split>`` being train, val or valid, test. An image's file is looked up in the given folder,
else beside the annotations file, in ``images/<name>``, ``<name>`` (``name``: the file's stem without
``instances_``, e.g. ``train2017``), ``images/`` or the root.

Category ids (any integers, e.g. COCO's 1-90 with gaps) become classes 0..n-1 in id order, names kept; the
ids travel with the splits so detections are written back with them
(:func:`trainlab.detection.coco_results.coco_results`). ``bbox`` is ``[x, y, w, h]`` in pixels of the image
as the file states its ``width`` and ``height`` (which must match the picture as a viewer shows it).
``iscrowd: 1`` boxes (one box around a crowd) are left out of training, as detectron2 and ultralytics do,
and passed to COCO mAP as crowd regions: a detection on them counts neither as a hit nor as a false alarm.
Every error names the annotations file and the annotation or image id; an image without annotations is
background (counted in the log), a split without a single box is an error.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

from ..images import image_size as shown_size
from ..images import read_image
from ..errors import DataError, echo
from .data import DetectionSplit, make_split
from .yolo_format import TOLERANCE, choose_channels, default_image_size

log = logging.getLogger(__name__)
SPLITS = {"train": ("train",), "valid": ("val", "valid", "validation"), "test": ("test",)}
ARGS = ("train", "val", "valid", "test", "flip")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def find_splits(root: Path, args: dict[str, Any]) -> dict[str, tuple[Path, Path | None] | None]:
    """Each split's (annotations file, images folder or None) from ``data.args`` or the usual layouts."""
    unknown = sorted(set(args) - set(ARGS))
    if unknown:
        raise DataError(f"coco: unknown data.args {unknown}; allowed: train, val (or valid), test (each an "
                        "annotations file or {annotations, images}) and flip.")
    found: dict[str, tuple[Path, Path | None] | None] = {}
    for split, names in SPLITS.items():
        given = [args[n] for n in names if n in args]
        if given:
            entry = given[0]
            if isinstance(entry, str):
                found[split] = (root / entry, None)
            elif isinstance(entry, dict) and isinstance(entry.get("annotations"), str) and set(entry) <= {
                    "annotations", "images"}:
                found[split] = (root / entry["annotations"], root / entry["images"] if entry.get("images") else None)
            else:
                raise DataError(f"coco: data.args.{names[0]} must be an annotations file or {{\"annotations\": "
                                f"file, \"images\": folder}}, got {echo(entry)}.")
            if not found[split][0].is_file():
                raise DataError(f"coco: the {split} annotations file {found[split][0]} does not exist.")
            continue
        candidates = [f for n in names for f in [*sorted((root / "annotations").glob(f"instances_{n}*.json")),
                                                 root / n / "_annotations.coco.json"] if f.is_file()]
        found[split] = (candidates[0], None) if candidates else None
    for split in ("train", "valid"):
        if found[split] is None:
            names = SPLITS[split][0] if len(SPLITS[split]) == 1 else "{" + ",".join(SPLITS[split]) + "}"
            raise DataError(f"coco: no {split} annotations in {root}: looked for annotations/instances_{names}*.json "
                            f"and {names}/_annotations.coco.json; name the file with data.args.{SPLITS[split][0]}.")
    return found


def _load_json(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable JSON file ({e}).") from None
    if not isinstance(spec, dict) or not all(isinstance(spec.get(k), list) for k in ("images", "annotations",
                                                                                        "categories")):
        raise DataError(f"{path}: expected a COCO object with 'images', 'annotations' and 'categories' lists.")
    return spec


def read_categories(spec: dict[str, Any], path: Path) -> dict[int, str]:
    """{category id: name} of a COCO file, in id order."""
    categories: dict[int, str] = {}
    for c in spec["categories"]:
        if not isinstance(c, dict) or not _integer(c.get("id")) or not isinstance(c.get("name"), str):
            raise DataError(f"{path}: category {echo(c)} needs an integer 'id' and a 'name'.")
        if c["id"] in categories:
            raise DataError(f"{path}: category id {c['id']} appears twice ({categories[c['id']]!r}, {c['name']!r}).")
        categories[c["id"]] = c["name"]
    if not categories:
        raise DataError(f"{path}: 'categories' is empty; list the classes as {{\"id\": 1, \"name\": \"car\"}}.")
    return dict(sorted(categories.items()))


def _images(spec: dict[str, Any], path: Path) -> dict[int, dict[str, Any]]:
    images: dict[int, dict[str, Any]] = {}
    for im in spec["images"]:
        if not isinstance(im, dict) or not _integer(im.get("id")) or not isinstance(im.get("file_name"), str):
            raise DataError(f"{path}: image entry {echo(im)} needs an integer 'id' and a 'file_name'.")
        if im["id"] in images:
            raise DataError(f"{path}: image id {im['id']} appears twice ({images[im['id']]['file_name']!r}, "
                            f"{im['file_name']!r}).")
        for side in ("width", "height"):
            if side in im and not (_integer(im[side]) and im[side] > 0):
                raise DataError(f"{path}: image id {im['id']} ({im['file_name']}): {side} must be a positive "
                                f"integer, got {echo(im[side])}.")
        images[im["id"]] = im
    if not images:
        raise DataError(f"{path}: 'images' is empty.")
    return images


def _image_folder(path: Path, root: Path, given: Path | None, first: str) -> Path:
    name = path.stem.removeprefix("instances_")
    candidates = [given] if given else [path.parent, root / "images" / name, root / name, root / "images", root]
    for folder in candidates:
        if (folder / first).is_file():
            return folder
    raise DataError(f"{path}: its first image {first!r} is in none of {', '.join(str(c) for c in candidates)}; "
                    "name the folder: data.args.<split> = {\"annotations\": file, \"images\": folder}.")


def _boxes(spec: dict[str, Any], path: Path, images: dict[int, dict[str, Any]], classes: dict[int, int]
           ) -> dict[int, list[tuple[list[float], int, bool]]]:
    """Per image id: (normalized xyxy, class, crowd) of each annotation, checked."""
    per_image: dict[int, list[tuple[list[float], int, bool]]] = {i: [] for i in images}
    for n, a in enumerate(spec["annotations"]):
        where = f"{path}: annotation {a.get('id', f'#{n}') if isinstance(a, dict) else f'#{n}'}"
        if not isinstance(a, dict):
            raise DataError(f"{where}: expected an object, got {echo(a)}.")
        if not _integer(a.get("image_id")) or a["image_id"] not in images:
            raise DataError(f"{where}: image_id {echo(a.get('image_id'))} is not in 'images'.")
        im = images[a["image_id"]]
        where += f" (image {im['id']}, {im['file_name']})"
        if not _integer(a.get("category_id")) or a["category_id"] not in classes:
            raise DataError(f"{where}: category_id {echo(a.get('category_id'))} is not in 'categories' "
                            f"({', '.join(map(str, classes))}).")
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox):
            raise DataError(f"{where}: bbox must be [x, y, width, height], 4 finite numbers in pixels, got "
                            f"{echo(bbox)}.")
        x, y, w, h = (float(v) for v in bbox)
        if w <= 0 or h <= 0:
            raise DataError(f"{where}: bbox width and height must be positive, got {echo(bbox)}.")
        crowd = a.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise DataError(f"{where}: iscrowd must be 0 or 1, got {echo(crowd)}.")
        width, height = im["width"], im["height"]
        x1, y1, x2, y2 = x / width, y / height, (x + w) / width, (y + h) / height
        if min(x1, y1) < -TOLERANCE or max(x2, y2) > 1 + TOLERANCE:
            raise DataError(f"{where}: bbox {echo(bbox)} reaches outside the {width}×{height} image.")
        per_image[im["id"]].append(([min(max(v, 0.0), 1.0) for v in (x1, y1, x2, y2)], classes[a["category_id"]],
                                    bool(crowd)))
    return per_image


def _read_split(split: str, path: Path, folder: Path | None, root: Path, categories: dict[int, str]
                ) -> tuple[list[Path], dict[str, Any]]:
    """The image files of one split and what :func:`_load` needs: images, boxes per image."""
    spec = _load_json(path)
    mine = read_categories(spec, path)
    if mine != categories:
        diff = [f"missing id {i} ({n!r})" for i, n in categories.items() if i not in mine]
        diff += [f"extra id {i} ({n!r})" for i, n in mine.items() if i not in categories]
        diff += [f"id {i} is {mine[i]!r}, not {n!r}" for i, n in categories.items() if mine.get(i, n) != n]
        raise DataError(f"{path}: its categories differ from the training file's: {'; '.join(diff[:3])}; every "
                        "split needs the same category ids and names.")
    images = _images(spec, path)
    folder = _image_folder(path, root, folder, next(iter(images.values()))["file_name"])
    files = []
    for im in images.values():
        file = folder / im["file_name"]
        if not file.is_file():
            raise DataError(f"{path}: image {im['id']}: file {file} does not exist.")
        h, w = shown_size(file)
        im.setdefault("width", w)
        im.setdefault("height", h)
        if (im["width"], im["height"]) != (w, h):
            turned = " (the annotations may be of the picture without its EXIF rotation)" if (h, w) == (
                im["width"], im["height"]) else ""
            raise DataError(f"{path}: image {im['id']} ({file.name}) is {w}×{h} as shown but the file says "
                            f"{im['width']}×{im['height']}{turned}.")
        files.append(file)
    classes = {cid: k for k, cid in enumerate(categories)}
    boxes = _boxes(spec, path, images, classes)
    total = sum(len(b) for b in boxes.values())
    if not total:
        raise DataError(f"{path}: the {len(images)} {split} images have no annotations at all; check the export.")
    empty = [im["file_name"] for i, im in images.items() if not boxes[i]]
    if empty:
        log.info("coco: %d of %d %s images have no annotation and are read as background (no boxes), e.g. %s",
                 len(empty), len(images), split, empty[0])
    crowd = sum(c for b in boxes.values() for _, _, c in b)
    if crowd:
        log.info("coco: %d of %d %s boxes are crowd boxes (iscrowd 1): %s", crowd, total, split,
                 "left out of training" if split == "train" else "ignored by mAP, as COCO's evaluation does")
    return files, {"images": list(images.values()), "boxes": boxes}


def _load(files: list[Path], info: dict[str, Any], size: tuple[int, int], channels: int,
          category_ids: list[int]) -> DetectionSplit:
    h, w = size
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    pixels = torch.empty(len(files), channels, h, w, dtype=torch.uint8)
    boxes, labels, crowd = [], [], []
    for i, (file, im) in enumerate(zip(files, info["images"])):
        pixels[i] = torch.from_numpy(read_image(file, channels=channels, size=size)).permute(2, 0, 1)
        rows = info["boxes"][im["id"]]
        boxes.append(torch.tensor([b for b, _, _ in rows], dtype=torch.float32).reshape(-1, 4) * scale)
        labels.append(torch.tensor([k for _, k, _ in rows], dtype=torch.long))
        crowd.append(torch.tensor([c for _, _, c in rows], dtype=torch.bool))
    ids = torch.tensor([im["id"] for im in info["images"]], dtype=torch.long)
    sizes = torch.tensor([[im["height"], im["width"]] for im in info["images"]], dtype=torch.long)
    return make_split(pixels, boxes, labels, crowd=crowd, image_ids=ids, sizes=sizes, category_ids=category_ids)


def read_coco_dataset(root: str | Path | None, *, image_size: tuple[int, int] | None = None,
                      channels: int | None = None, args: dict[str, Any] | None = None
                      ) -> tuple[dict[str, DetectionSplit | None], list[str]]:
    """Train / valid / test :class:`DetectionSplit` of a COCO JSON dataset (boxes in pixels of the resized
    images, crowd flags, image ids, original sizes, category ids) and the class names.

    ``channels`` None: 1 when every image is grayscale, else 3; ``image_size`` None: the first training
    image's size rounded up to a multiple of 32 (both logged).

    Example:
        >>> splits, names = read_coco_dataset("/data/cvat-export", image_size=(320, 320),
        ...                                   args={"train": "annotations/instances_train.json",
        ...                                         "val": "annotations/instances_val.json"})  # doctest: +SKIP
        >>> splits["valid"].category_ids, names  # doctest: +SKIP
        ([1, 3], ['person', 'car'])
    """
    if not root:
        raise DataError("dataset 'coco' needs data.root: the folder with the annotations files and images.")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"coco: data.root {str(root)!r} is not a folder.")
    found = find_splits(root, {k: v for k, v in (args or {}).items() if k != "flip"})
    categories = read_categories(_load_json(found["train"][0]), found["train"][0])
    if list(categories) != list(range(len(categories))):
        log.info("coco: categories %s are classes 0-%d (%s)", ", ".join(map(str, categories)), len(categories) - 1,
                 ", ".join(categories.values()))
    read = {split: _read_split(split, entry[0], entry[1], root, categories) if entry else None
            for split, entry in found.items()}
    if channels is None:
        channels = choose_channels([f for r in read.values() if r for f in r[0]], "coco")
    if image_size is None:
        image_size = default_image_size(read["train"][0][0], "coco")
    if any(int(v) % 32 for v in image_size):
        raise DataError(f"coco: data.image_size {list(image_size)} must be multiples of 32 (the detector's largest "
                        "stride).")
    size = (int(image_size[0]), int(image_size[1]))
    splits = {split: _load(*r, size, channels, list(categories)) if r else None for split, r in read.items()}
    return splits, list(categories.values())
