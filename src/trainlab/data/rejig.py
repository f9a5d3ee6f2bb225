"""Rejig a flat (or nested) folder of labelled images into ``train/valid/test`` class folders.

The class of a file is read from its *file name*: ``classes={"happy": "_Ha_", "sad": "_Sa_"}`` sends
``subj01_Ha_03.png`` to class ``happy``. Each class is split on its own with exact fractions
(stratified), so a 10 % validation split of a 47-file class holds ``round(4.7) == 5`` files.

Two steps, so a dry run is possible: :func:`plan_rejig` only reads the source tree and returns a
:class:`RejigPlan`; :func:`apply_rejig` copies (or moves) the files of a plan and never overwrites.

Example:
    >>> from pathlib import Path
    >>> plan = plan_rejig(Path("faces"), Path("faces_split"), {"happy": "_Ha_", "sad": "_Sa_"},
    ...                   valid_fraction=0.2, seed=0)                       # doctest: +SKIP
    >>> print(format_counts(plan))  # a class x split table              # doctest: +SKIP
    >>> report = apply_rejig(plan)                                          # doctest: +SKIP
"""
from __future__ import annotations

import logging
import numbers
import os
import shutil
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import file_sha256
from ..images import IMAGE_EXTENSIONS  # noqa: F401 (re-exported: the data layer's name for it)

log = logging.getLogger(__name__)


SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class RejigEntry:
    """One file of a plan: where it comes from, where it goes, its class and split."""

    source: Path
    destination: Path
    class_name: str
    split: str


@dataclass
class RejigPlan:
    """What :func:`apply_rejig` will do; building it writes nothing.

    Attributes:
        src, dst: the source tree and the destination root.
        splits: the split folders that will be created (``test`` only when ``test_fraction > 0``).
        classes: class name -> file-name substring, as given.
        entries: one :class:`RejigEntry` per matched file, ordered by class, split, destination.
        unmatched: image files whose name contains no class substring (not copied).
        ambiguous: image files whose name contains several class substrings -> those classes (not copied).
    """

    src: Path
    dst: Path
    splits: tuple[str, ...]
    classes: dict[str, str]
    entries: list[RejigEntry] = field(default_factory=list)
    unmatched: list[Path] = field(default_factory=list)
    ambiguous: dict[Path, tuple[str, ...]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Files per class and split: ``counts[class][split]``."""
        return _count(self.classes, self.splits, self.entries)

    def conflicts(self) -> list[Path]:
        """Destinations of the plan that already exist (``apply_rejig`` refuses to run if any)."""
        return [e.destination for e in self.entries if os.path.lexists(e.destination)]


@dataclass
class RejigReport:
    """What :func:`apply_rejig` did: the files written, per class and split, and what it skipped."""

    plan: RejigPlan
    moved: bool
    written: list[Path] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Files written per class and split: ``counts[class][split]`` (the report exists only on success)."""
        return self.plan.counts


def plan_rejig(src: Path, dst: Path, classes: Mapping[str, str], *, valid_fraction: float = 0.1,
               test_fraction: float = 0.0, seed: int = 0, extensions: tuple[str, ...] | None = None) -> RejigPlan:
    """Plan a stratified train/valid(/test) split of the images under ``src``; writes nothing.

    Files are found recursively (hidden files and folders skipped); a file belongs to a class when
    its name contains the class substring (case-sensitive). Per class, ``round(n * fraction)``
    files (halves rounded up, on the decimal value of the fraction) go to ``valid`` (and ``test``),
    chosen by a permutation seeded from ``seed`` and the class name, the rest to ``train``. The plan
    depends only on the seed and the set of files, not on listing order or on the other classes.
    Two files of the same name bound for the same folder are renamed with their relative parent
    path (``a/b/x.png`` -> ``a__b__x.png``), so none is dropped.

    Args:
        src: folder holding the images (searched recursively).
        dst: destination root; ``dst/<split>/<class>/`` is created by :func:`apply_rejig`.
        classes: class name -> substring of the file name, e.g. ``{"happy": "_Ha_"}``.
        valid_fraction: share of each class for ``valid``, in [0, 1).
        test_fraction: share of each class for ``test``, in [0, 1); 0 creates no ``test`` folder.
        seed: non-negative seed of the permutations.
        extensions: file extensions to consider (default :data:`IMAGE_EXTENSIONS`), any case.

    Returns:
        The plan; see :attr:`RejigPlan.counts` and :func:`format_counts`.

    Raises:
        DataError: ``src`` missing, bad class map, fractions out of range, a class with no file,
            or destination files that already exist.

    Example:
        >>> plan = plan_rejig(Path("raw"), Path("split"), {"cat": "cat_", "dog": "dog_"},
        ...                   valid_fraction=0.25)                          # doctest: +SKIP
        >>> plan.counts["cat"]                                              # doctest: +SKIP
        {'train': 30, 'valid': 10}
    """
    src, dst = Path(src), Path(dst)
    _validate_src_dst(src, dst)
    _validate_classes(classes)
    _validate_fractions(valid_fraction, test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"rejig seed must be a non-negative integer; got {seed!r}. Pass e.g. seed=0.")
    exts = _normalise_extensions(extensions)
    splits = SPLITS if test_fraction > 0 else SPLITS[:2]

    by_class: dict[str, list[Path]] = {name: [] for name in classes}
    plan = RejigPlan(src=src, dst=dst, splits=splits, classes=dict(classes))
    for path in _image_files(src, exts):
        hits = tuple(name for name, key in classes.items() if key in path.name)
        if not hits:
            plan.unmatched.append(path)
        elif len(hits) > 1:
            plan.ambiguous[path] = hits
        else:
            by_class[hits[0]].append(path)

    empty = [name for name, files in by_class.items() if not files]
    if empty:
        raise DataError(
            f"no file under {src} matches class(es) {', '.join(repr(n) for n in empty)} "
            f"(substrings {', '.join(repr(classes[n]) for n in empty)}; extensions {', '.join(exts)}). "
            f"{len(plan.unmatched)} file(s) matched no class and {len(plan.ambiguous)} several. "
            "Fix the substrings (they are case-sensitive) or drop those classes."
        )

    for name in sorted(by_class):
        groups = _split_class(sorted(by_class[name]), name, splits, valid_fraction, test_fraction, seed)
        if not groups["train"]:
            log.warning("class %r has no training file after the split; lower the fractions.", name)
        for split in splits:
            names = _destination_names(groups[split], src)
            for source in groups[split]:
                dest = dst / split / name / names[source]
                plan.entries.append(RejigEntry(source=source, destination=dest, class_name=name, split=split))

    _raise_on_conflicts(plan)
    log.info("rejig plan: %d files in %d classes, %d unmatched, %d ambiguous",
             len(plan.entries), len(classes), len(plan.unmatched), len(plan.ambiguous))
    return plan


def apply_rejig(plan: RejigPlan, *, move: bool = False) -> RejigReport:
    """Copy (default) or move the files of ``plan`` into ``dst/<split>/<class>/``.

    Every ``split/class`` folder of the plan is created, even when it receives no file, so every
    split has the same class folders. The whole plan is checked first: if any destination exists,
    nothing is written. Each file is copied (``shutil.copy2``) to a temporary name in its
    destination folder and then linked to its final name, which fails rather than overwrite; so a
    crash never leaves a partial file under a final name. With ``move=True`` the copy is verified
    (size and SHA-256) before the source is deleted.

    Args:
        plan: from :func:`plan_rejig`.
        move: delete each source once its copy is verified.

    Returns:
        A :class:`RejigReport` with the written paths and counts per class and split.

    Raises:
        DataError: a destination exists, a copy fails or does not verify; files already written
            stay (they are complete copies) and the message says how many.

    Example:
        >>> report = apply_rejig(plan_rejig(Path("raw"), Path("split"), {"cat": "cat_"}))  # doctest: +SKIP
        >>> print(format_counts(report))                                                  # doctest: +SKIP
    """
    _raise_on_conflicts(plan)
    assert len({e.destination for e in plan.entries}) == len(plan.entries), "duplicate destinations"
    for split in plan.splits:
        for name in plan.classes:
            (plan.dst / split / name).mkdir(parents=True, exist_ok=True)

    report = RejigReport(plan=plan, moved=move)
    for entry in plan.entries:
        try:
            _copy_without_overwrite(entry.source, entry.destination, verify=move)
            if move:
                entry.source.unlink()
        except (OSError, DataError) as exc:
            raise DataError(
                f"rejig stopped at {entry.source} -> {entry.destination}: {exc}. "
                f"{len(report.written)} of {len(plan.entries)} file(s) were already "
                f"{'moved' if move else 'copied'} and are complete; remove them (or the destination "
                "folder) before running rejig again."
            ) from exc
        report.written.append(entry.destination)
    log.info("rejig %s %d files into %s", "moved" if move else "copied", len(report.written), plan.dst)
    return report


def format_counts(report_or_plan: RejigPlan | RejigReport) -> str:
    """A small aligned table of file counts, one row per class and a column per split, with totals.

    Lines for unmatched and ambiguous files follow the table when there are any.

    Example:
        >>> plan = RejigPlan(Path("a"), Path("b"), ("train", "valid"), {"cat": "c"})
        >>> print(format_counts(plan))
        class  train  valid  total
        cat        0      0      0
        total      0      0      0
    """
    plan = report_or_plan.plan if isinstance(report_or_plan, RejigReport) else report_or_plan
    counts, splits = plan.counts, plan.splits
    header = ["class", *splits, "total"]
    rows = [[name, *(str(counts[name][s]) for s in splits), str(sum(counts[name].values()))]
            for name in counts]
    totals = [sum(counts[name][s] for name in counts) for s in splits]
    rows.append(["total", *(str(t) for t in totals), str(sum(totals))])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join([cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))])

    lines = [line(header), *(line(r) for r in rows)]
    if plan.unmatched:
        lines.append(f"unmatched: {len(plan.unmatched)} file(s) matched no class (not copied)")
    if plan.ambiguous:
        lines.append(f"ambiguous: {len(plan.ambiguous)} file(s) matched several classes (not copied)")
    return "\n".join(lines)


# --- validation -----------------------------------------------------------------------------

def _validate_src_dst(src: Path, dst: Path) -> None:
    if not src.is_dir():
        what = "is not a folder" if src.exists() else "does not exist"
        raise DataError(f"rejig source {src} {what}; pass the folder that holds the images.")
    if dst.exists() and not dst.is_dir():
        raise DataError(f"rejig destination {dst} exists and is not a folder; choose another destination.")
    if src.resolve() == dst.resolve():
        raise DataError(f"rejig source and destination are the same folder ({src}); choose a new destination.")
    if src.resolve() in dst.resolve().parents:
        # a later rejig of the same source would take this run's copies for new images (each file twice)
        raise DataError(f"rejig destination {dst} is inside the source {src}; a later rejig of the source would "
                        "ingest its copies again. Choose a destination outside the source.")


def _validate_classes(classes: Mapping[str, str]) -> None:
    if not classes:
        raise DataError('rejig needs at least one class; got an empty class map. '
                        'Pass e.g. {"happy": "_Ha_", "sad": "_Sa_"} (class -> file-name substring).')
    for name, key in classes.items():
        if not isinstance(name, str) or not name or name in {".", ".."} or "/" in name or os.sep in name \
                or name.startswith("."):
            raise DataError(f"rejig class name {name!r} cannot be a folder name; use a plain name such as 'happy'.")
        if not isinstance(key, str) or not key:
            raise DataError(f"rejig class {name!r} has substring {key!r}; give a non-empty string that "
                            "appears in the file names of that class, e.g. '_Ha_'.")
    if len(set(classes.values())) != len(classes):
        raise DataError(f"rejig classes share a substring ({dict(classes)}); every file would match several "
                        "classes. Give each class its own substring.")
    folded = [name.casefold() for name in classes]
    if len(set(folded)) != len(folded):
        raise DataError(f"rejig class names {sorted(classes)} differ only by case, which clashes on "
                        "case-insensitive file systems; rename one of them.")


def _validate_fractions(valid_fraction: float, test_fraction: float) -> None:
    for label, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
            raise DataError(f"rejig {label} must be a number in [0, 1); got {value!r}. "
                            "Use e.g. 0.1 for 10 %.")
    if valid_fraction + test_fraction >= 1:
        raise DataError(f"rejig valid_fraction + test_fraction must be below 1 to leave training files; "
                        f"got {valid_fraction} + {test_fraction}. Lower one of them.")


def _normalise_extensions(extensions: Iterable[str] | None) -> tuple[str, ...]:
    if extensions is None:
        return IMAGE_EXTENSIONS
    if isinstance(extensions, str):
        extensions = (extensions,)
    exts = tuple(sorted({("." + e.lstrip(".")).lower() for e in extensions if e.strip(".")}))
    if not exts:
        raise DataError(f"rejig extensions {extensions!r} is empty; pass e.g. ('.png', '.jpg') or None "
                        "for the default image extensions.")
    return exts


def _raise_on_conflicts(plan: RejigPlan) -> None:
    conflicts = plan.conflicts()
    if conflicts:
        shown = ", ".join(str(p) for p in conflicts[:3]) + (" ..." if len(conflicts) > 3 else "")
        raise DataError(f"{len(conflicts)} rejig destination file(s) already exist ({shown}); rejig never "
                        f"overwrites. Choose a new destination or empty {plan.dst}.")


# --- planning ---------------------------------------------------------------------------------

def _image_files(src: Path, exts: tuple[str, ...]) -> Iterator[Path]:
    """Files under ``src`` with one of ``exts``, skipping hidden entries."""
    for root, dirs, files in os.walk(src):
        root_path = Path(root)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in exts:
                yield root_path / name


def _round_half_up(n: int, fraction: float) -> int:
    # On the decimal the user wrote (0.15, not 0.1499999...), so n * fraction == k + 0.5 rounds up.
    return int(Fraction(n) * Fraction(repr(float(fraction))) + Fraction(1, 2))


def _split_class(files: list[Path], name: str, splits: tuple[str, ...], valid_fraction: float,
                 test_fraction: float, seed: int) -> dict[str, list[Path]]:
    """Stratified split of one class; the permutation depends on the seed and the class name only."""
    n = len(files)
    n_valid, n_test = _round_half_up(n, valid_fraction), _round_half_up(n, test_fraction)
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])
    order = rng.permutation(n)
    picked = {"valid": order[:n_valid], "test": order[n_valid:n_valid + n_test],
              "train": order[n_valid + n_test:]}
    return {split: [files[i] for i in sorted(picked[split])] for split in splits}


def _destination_names(files: list[Path], src: Path) -> dict[Path, str]:
    """Unique file names for one destination folder (case-insensitively, for macOS and Windows).

    Clashing names get their relative parent path as prefix; a counter settles what is still equal.
    """
    names = {f: f.name for f in files}
    clashing = _clashes(names)
    for f in clashing:
        parts = f.relative_to(src).parent.parts
        names[f] = "__".join([*parts, f.name])
    for f in _clashes(names):
        stem, suffix = os.path.splitext(names[f])
        names[f] = f"{stem}~{zlib.crc32(str(f.relative_to(src)).encode('utf-8')):08x}{suffix}"
    assert not _clashes(names), "destination names still clash"
    return names


def _clashes(names: dict[Path, str]) -> list[Path]:
    seen: dict[str, list[Path]] = {}
    for f, name in names.items():
        seen.setdefault(name.casefold(), []).append(f)
    return [f for group in seen.values() if len(group) > 1 for f in group]


def _count(classes: Mapping[str, str], splits: tuple[str, ...],
           entries: list[RejigEntry]) -> dict[str, dict[str, int]]:
    counts = {name: dict.fromkeys(splits, 0) for name in classes}
    for entry in entries:
        counts[entry.class_name][entry.split] += 1
    return counts


# --- copying --------------------------------------------------------------------------------

def _copy_without_overwrite(source: Path, destination: Path, *, verify: bool) -> None:
    """Copy to a hidden temp name beside ``destination``, optionally verify, then publish it."""
    tmp = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        shutil.copy2(source, tmp)
        if verify:
            if tmp.stat().st_size != source.stat().st_size or file_sha256(tmp) != file_sha256(source):
                raise DataError(f"the copy of {source} does not match the source (size or SHA-256); "
                                "the source was kept. Check the disk and run again.")
        _publish(tmp, destination)
    finally:
        if os.path.lexists(tmp):
            tmp.unlink()


def _publish(tmp: Path, destination: Path) -> None:
    """Give ``tmp`` its final name, failing if that name exists (``os.replace`` would overwrite)."""
    try:
        os.link(tmp, destination)  # atomic and refuses an existing name
    except FileExistsError:
        raise DataError(f"{destination} appeared while rejig ran; it was not overwritten.") from None
    except OSError:  # file systems without hard links (FAT, some network shares)
        if os.path.lexists(destination):
            raise DataError(f"{destination} appeared while rejig ran; it was not overwritten.") from None
        os.replace(tmp, destination)
