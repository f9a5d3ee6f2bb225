"""``trainlab predict``: a trained model's answers for image files, streamed in input order.

:func:`predict` reads the files of every SOURCE (:mod:`.sources`), a batch at a time (decoded on a few
threads), runs the model (a run's checkpoint in PyTorch, or an exported bundle in onnxruntime, see
:func:`load_predictor`), and writes one record per image (:mod:`.records`) as soon as its batch is
done (:mod:`.writers`). A file that cannot be read is logged with the reason, skipped and counted; only when
no file at all could be read is it an error. :func:`predictions` is the same stream as Python records.

Example:
    >>> summary = predict("experiments/digits-cnn", ["digits/"], out=Path("preds.csv"))  # doctest: +SKIP
    >>> summary.written, summary.skipped  # doctest: +SKIP
    (120, 0)
"""
from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..errors import ConfigError, DataError, TrainlabError
from ..files import atomic_file
from .predictor import Predictor
from .preprocess import Loaded
from .records import record
from .sources import image_paths
from .writers import format_for, write_coco, write_csv, write_jsonl, write_yolo_txt

log = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    """What a :func:`predict` call did: images ``written``, files ``skipped`` (with ``reasons``: the first
    few ``path: reason``), the ``out`` file or folder (None: the stream), ``seconds`` and what predicted."""

    written: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)
    out: Path | None = None
    format: str = "csv"
    seconds: float = 0.0
    model: str = ""

    @property
    def rate(self) -> float:
        """Images per second."""
        return self.written / self.seconds if self.seconds > 0 else 0.0


def load_predictor(target: Path | str, *, checkpoint: str = "best", overrides: list[str] = (),
                   threads: int | None = None) -> Predictor:
    """A bundle folder's :class:`BundlePredictor` (no torch), else the experiment folder's checkpoint
    (``best``, ``last`` or a path) as a :class:`RunPredictor`.

    Example:
        >>> p = load_predictor("experiments/digits-cnn")  # doctest: +SKIP
        >>> p.kind, p.class_names[:3]  # doctest: +SKIP
        ('classification', ['0', '1', '2'])
    """
    from .bundle import BundlePredictor, is_bundle

    if is_bundle(target):
        if checkpoint != "best" or overrides:
            raise ConfigError(f"{target} is an exported bundle: --checkpoint and --set apply to an experiment "
                              "folder; export the checkpoint you want (trainlab export EXP --checkpoint ...).")
        return BundlePredictor(target, threads=threads)
    from .run import RunPredictor  # imports torch

    return RunPredictor(Path(target), checkpoint=checkpoint, overrides=list(overrides))


def _load(predictor: Predictor, path: Path) -> Loaded | str:
    try:
        return predictor.preprocess.load(path)
    except TrainlabError as e:
        return str(e)


def predictions(predictor: Predictor, paths: Iterable[tuple[Path, Path | None]], *, batch_size: int = 32,
                top_k: int = 5, min_score: float = 0.25, summary: PredictSummary | None = None,
                roots: dict[str, Path | None] | None = None, save_vis: Path | None = None,
                progress: bool = False) -> Iterator[dict[str, Any]]:
    """Records for ``paths`` (``(path, root)`` pairs, see :func:`.sources.image_paths`) in their order.

    Unreadable files are logged and counted in ``summary``; ``roots`` (when given) receives each written
    image's SOURCE folder; ``save_vis`` draws each answer onto a copy of its image there (see :mod:`.vis`).

    Example:
        >>> p = load_predictor("experiments/digits-cnn/export")  # doctest: +SKIP
        >>> next(predictions(p, image_paths(["seven.png"])))["top"][0]["class"]  # doctest: +SKIP
        '7'
    """
    from tqdm import tqdm

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}.")
    if top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {top_k}.")
    summary = summary if summary is not None else PredictSummary()
    top_k = min(top_k, len(predictor.class_names)) if predictor.kind == "classification" else top_k
    bar = tqdm(unit="file", desc="predict", disable=not progress, leave=False, dynamic_ncols=True)
    if save_vis is not None:
        from .vis import Drawer

        draw = Drawer(save_vis, predictor.kind)
    else:
        draw = None
    paths = iter(paths)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool, bar:
        while chunk := list(itertools.islice(paths, batch_size)):
            loaded = []
            for (_, root), item in zip(chunk, pool.map(lambda p: _load(predictor, p[0]), chunk)):
                bar.update(1)
                if isinstance(item, str):
                    summary.skipped += 1
                    if len(summary.reasons) < 20:
                        summary.reasons.append(item)
                    log.warning("skipped: %s", item)
                    continue
                if roots is not None:
                    roots[str(item.path)] = root
                loaded.append(item)
            if not loaded:
                continue
            x, widths = predictor.preprocess.batch(loaded)
            for item, answer in zip(loaded, predictor.answers(x, widths)):
                rec = record(predictor.kind, answer, item, predictor.class_names, top_k=top_k, min_score=min_score)
                if draw is not None:
                    draw(rec)
                summary.written += 1
                yield rec


def predict(target: Path | str, sources: list[str], *, out: Path | TextIO | None = None, fmt: str | None = None,
            checkpoint: str = "best", top_k: int = 5, min_score: float = 0.25, batch_size: int = 32,
            save_vis: Path | None = None, overrides: list[str] = (), threads: int | None = None,
            progress: bool = False, stdin: TextIO | None = None) -> PredictSummary:
    """Predict the images of ``sources`` with the model of ``target`` (an experiment folder or a bundle) and
    write the records to ``out``: a file (csv, jsonl or coco by ``fmt`` or its suffix), a folder (yolo-txt),
    or a text stream (e.g. ``sys.stdout``).

    Raises :class:`DataError` when no file could be read (the file written so far is discarded).

    Example:
        >>> import sys
        >>> predict("experiments/digits-cnn/export", ["digits/"], out=sys.stdout, fmt="jsonl")  # doctest: +SKIP
        {"path": "digits/seven.png", "top": [{"class": "7", "prob": 0.998}, ...]}
    """
    if not sources:
        raise ConfigError("give at least one SOURCE: image files, folders, globs, @list.txt or - (stdin).")
    predictor = load_predictor(target, checkpoint=checkpoint, overrides=list(overrides), threads=threads)
    path = Path(out) if isinstance(out, str | os.PathLike) else None
    fmt = format_for(path, fmt, predictor.kind)
    if path is not None and fmt != "yolo-txt" and path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file name (e.g. {path / ('predictions.' + fmt)}).")
    if predictor.kind == "classification" and top_k > len(predictor.class_names):
        top_k = len(predictor.class_names)  # the CSV header has as many columns as the rows
    summary = PredictSummary(out=path, format=fmt, model=predictor.describe())
    roots: dict[str, Path | None] = {}
    start = time.perf_counter()
    records = predictions(predictor, image_paths(sources, stdin=stdin), batch_size=batch_size, top_k=top_k,
                          min_score=min_score, summary=summary, roots=roots if fmt == "yolo-txt" else None,
                          save_vis=save_vis, progress=progress)

    def write(stream: TextIO) -> None:
        if fmt == "csv":
            write_csv(records, stream, predictor.kind, top_k)
        elif fmt == "jsonl":
            write_jsonl(records, stream)
        else:
            write_coco(records, stream)
        _check_read(summary)

    if fmt == "yolo-txt":
        write_yolo_txt(records, path, roots)
        _check_read(summary)
    elif path is not None:
        with atomic_file(path, "w") as stream:
            write(stream)
    else:
        write(out)
    summary.seconds = time.perf_counter() - start
    return summary


def _check_read(summary: PredictSummary) -> None:
    if summary.written == 0:
        first = f" (first: {summary.reasons[0]})" if summary.reasons else ""
        raise DataError(f"none of the {summary.skipped} file(s) could be read{first}; give image files that open.")
