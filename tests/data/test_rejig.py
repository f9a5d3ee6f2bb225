"""Tests of trainlab.data.rejig: exact stratified splits, determinism, no file lost, never overwrite."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainlab.data import rejig as rejig_mod
from trainlab.data.rejig import RejigPlan, apply_rejig, format_counts, plan_rejig
from trainlab.errors import DataError

CLASSES = {"happy": "_Ha_", "sad": "_Sa_"}


def make_files(root: Path, names: list[str]) -> dict[Path, bytes]:
    """Write one file per relative name with content unique to that name; return path -> bytes."""
    written = {}
    for rel in names:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = hashlib.sha256(rel.encode()).digest() * (1 + len(rel) % 3)
        path.write_bytes(data)
        written[path] = data
    return written


def make_faces(root: Path, n_happy: int, n_sad: int, ext: str = ".png") -> dict[Path, bytes]:
    names = [f"s{i:03d}_Ha_{i}{ext}" for i in range(n_happy)]
    names += [f"sub{i % 3}/p{i:03d}_Sa_{i}{ext}" for i in range(n_sad)]
    return make_files(root, names)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def split_of(plan: RejigPlan) -> dict[Path, str]:
    return {e.source: f"{e.split}/{e.class_name}" for e in plan.entries}


# --- exact counts ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("n", "valid", "test", "want_valid", "want_test"),
    [
        (10, 0.1, 0.0, 1, 0),
        (47, 0.1, 0.0, 5, 0),     # 4.7 -> 5
        (5, 0.1, 0.0, 1, 0),      # 0.5 rounds up
        (25, 0.1, 0.0, 3, 0),     # 2.5 rounds up (Python's round would give 2)
        (30, 0.15, 0.0, 5, 0),    # 4.5 on the decimal, even though 30 * 0.15 == 4.499999... in floats
        (3, 0.1, 0.0, 0, 0),
        (1, 0.0, 0.0, 0, 0),
        (20, 0.2, 0.1, 4, 2),
        (7, 0.3, 0.3, 2, 2),      # 2.1 -> 2, 2.1 -> 2
        (2, 0.49, 0.49, 1, 1),    # every file leaves train
    ],
)
def test_exact_counts_per_class(tmp_path, n, valid, test, want_valid, want_test):
    make_faces(tmp_path / "src", n, n + 3)
    plan = plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES, valid_fraction=valid, test_fraction=test)
    counts = plan.counts
    assert counts["happy"]["valid"] == want_valid
    assert counts["happy"]["train"] == n - want_valid - want_test
    assert set(counts["happy"]) == ({"train", "valid", "test"} if test > 0 else {"train", "valid"})
    if test > 0:
        assert counts["happy"]["test"] == want_test
    assert sum(counts["sad"].values()) == n + 3


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    valid=st.floats(0, 0.6),
    test=st.floats(0, 0.35),
    seed=st.integers(0, 2**32),
)
def test_counts_property(sizes, valid, test, seed):
    classes = {f"c{i}": f"_C{i}_" for i in range(len(sizes))}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        make_files(src, [f"img{j}_C{i}_.jpg" for i, n in enumerate(sizes) for j in range(n)])
        plan = plan_rejig(src, Path(tmp) / "dst", classes, valid_fraction=valid, test_fraction=test, seed=seed)
    for i, n in enumerate(sizes):
        c = plan.counts[f"c{i}"]
        assert sum(c.values()) == n
        assert abs(c["valid"] - n * valid) <= 0.5 + 1e-9
        if test > 0:
            assert abs(c["test"] - n * test) <= 0.5 + 1e-9
        else:
            assert "test" not in c
    # every entry goes to the folder of its split and class
    for e in plan.entries:
        assert e.destination.parent == Path(tmp) / "dst" / e.split / e.class_name
        assert f"_C{e.class_name[1:]}_" in e.source.name


# --- determinism ------------------------------------------------------------------------------

def test_same_seed_same_plan_different_seed_different_plan(tmp_path):
    make_faces(tmp_path / "src", 30, 30)
    args = (tmp_path / "src", tmp_path / "dst", CLASSES)
    a = plan_rejig(*args, valid_fraction=0.5, seed=1)
    b = plan_rejig(*args, valid_fraction=0.5, seed=1)
    assert a.entries == b.entries
    others = [split_of(plan_rejig(*args, valid_fraction=0.5, seed=s)) for s in (2, 3, 4)]
    assert all(o != split_of(a) for o in others)


def test_plan_ignores_class_order_and_other_classes(tmp_path):
    make_faces(tmp_path / "src", 20, 20)
    src, dst = tmp_path / "src", tmp_path / "dst"
    a = plan_rejig(src, dst, {"happy": "_Ha_", "sad": "_Sa_"}, valid_fraction=0.3, seed=5)
    b = plan_rejig(src, dst, {"sad": "_Sa_", "happy": "_Ha_"}, valid_fraction=0.3, seed=5)
    only_happy = plan_rejig(src, dst, {"happy": "_Ha_"}, valid_fraction=0.3, seed=5)
    assert split_of(a) == split_of(b)
    happy = {s: v for s, v in split_of(a).items() if v.endswith("happy")}
    assert happy == split_of(only_happy)


# --- applying: nothing lost, copy vs move -----------------------------------------------------

def test_dry_plan_writes_nothing(tmp_path):
    make_faces(tmp_path / "src", 6, 4)
    before = tree(tmp_path / "src")
    plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES, test_fraction=0.2)
    assert not (tmp_path / "dst").exists()
    assert tree(tmp_path / "src") == before


@pytest.mark.parametrize("move", [False, True])
def test_every_matched_file_lands_once_byte_equal(tmp_path, move):
    files = make_faces(tmp_path / "src", 13, 9)
    files.update(make_files(tmp_path / "src", ["other.png", "x_Ha__Sa_.png", "notes.txt"]))
    plan = plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES, valid_fraction=0.2, test_fraction=0.1)
    report = apply_rejig(plan, move=move)

    out = tree(tmp_path / "dst")
    assert len(out) == len(plan.entries) == 22
    assert sorted(map(str, report.written)) == sorted(str(e.destination) for e in plan.entries)
    for e in plan.entries:
        assert e.destination.read_bytes() == files[e.source]
        assert e.source.exists() is (not move)
    assert sorted(out.values()) == sorted(files[e.source] for e in plan.entries)
    # unmatched / ambiguous / non-images stay where they were, copy or move
    for name in ("other.png", "x_Ha__Sa_.png", "notes.txt"):
        assert (tmp_path / "src" / name).read_bytes() == files[tmp_path / "src" / name]
    assert report.counts == plan.counts
    assert report.counts["happy"] == {"train": 9, "valid": 3, "test": 1}
    assert not any(p.name.endswith(".part") for p in (tmp_path / "dst").rglob("*"))


def test_unmatched_and_ambiguous_are_reported(tmp_path):
    make_faces(tmp_path / "src", 3, 3)
    make_files(tmp_path / "src", ["a/none.png", "b/both_Ha__Sa_.JPG", "skip.txt", ".hidden_Ha_.png"])
    plan = plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES)
    assert plan.unmatched == [tmp_path / "src" / "a" / "none.png"]
    assert plan.ambiguous == {tmp_path / "src" / "b" / "both_Ha__Sa_.JPG": ("happy", "sad")}
    assert all(e.source.name not in {"none.png", "both_Ha__Sa_.JPG", ".hidden_Ha_.png"} for e in plan.entries)
    text = format_counts(plan)
    assert "unmatched: 1" in text and "ambiguous: 1" in text


def test_extensions_case_insensitive_and_custom(tmp_path):
    make_files(tmp_path / "src", ["a_Ha_.JPG", "b_Ha_.Jpeg", "c_Ha_.tiff", "d_Ha_.txt", "e_Ha_.npy"])
    default = plan_rejig(tmp_path / "src", tmp_path / "dst", {"happy": "_Ha_"})
    assert sorted(e.source.name for e in default.entries) == ["a_Ha_.JPG", "b_Ha_.Jpeg", "c_Ha_.tiff"]
    custom = plan_rejig(tmp_path / "src", tmp_path / "dst", {"happy": "_Ha_"}, extensions=("NPY", ".txt"))
    assert sorted(e.source.name for e in custom.entries) == ["d_Ha_.txt", "e_Ha_.npy"]


def test_same_name_in_two_folders_is_kept_twice(tmp_path):
    files = make_files(tmp_path / "src", ["x_Ha_.png", "a/x_Ha_.png", "a/b/x_Ha_.png", "c/X_Ha_.PNG",
                                          "a__x_Ha_.png", "y_Ha_.png"])
    plan = plan_rejig(tmp_path / "src", tmp_path / "dst", {"happy": "_Ha_"}, valid_fraction=0.0)
    names = sorted(e.destination.name for e in plan.entries)
    assert len(names) == 6 and len({n.casefold() for n in names}) == 6
    assert "y_Ha_.png" in names and "a__b__x_Ha_.png" in names
    apply_rejig(plan)
    assert sorted(tree(tmp_path / "dst").values()) == sorted(
        data for path, data in files.items() if "_Ha_" in path.name)
    again = plan_rejig(tmp_path / "src", tmp_path / "dst2", {"happy": "_Ha_"}, valid_fraction=0.0)
    assert [e.destination.name for e in again.entries] == [e.destination.name for e in plan.entries]


def test_all_split_class_folders_created_even_when_empty(tmp_path):
    make_faces(tmp_path / "src", 2, 20)
    apply_rejig(plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES, valid_fraction=0.1))
    assert (tmp_path / "dst" / "valid" / "happy").is_dir()  # round(0.2) == 0 files
    assert not any((tmp_path / "dst" / "valid" / "happy").iterdir())
    assert not (tmp_path / "dst" / "test").exists()


def test_destination_inside_source_is_refused(tmp_path):
    """A second rejig of the source would take the first one's copies for new images (818 files from 409)."""
    make_faces(tmp_path / "src", 5, 5)
    for dst in (tmp_path / "src" / "split", tmp_path / "src" / "a" / "b"):
        with pytest.raises(DataError, match="inside the source"):
            plan_rejig(tmp_path / "src", dst, CLASSES)
    assert not (tmp_path / "src" / "split").exists()
    assert len(plan_rejig(tmp_path / "src", tmp_path / "split", CLASSES).entries) == 10


# --- never overwrite, failures leave sources and no partial file ------------------------------

def test_refuses_to_overwrite_before_copying_anything(tmp_path):
    make_faces(tmp_path / "src", 8, 8)
    plan = plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES)
    last = plan.entries[-1].destination
    last.parent.mkdir(parents=True)
    last.write_bytes(b"precious")
    with pytest.raises(DataError, match="already exist") as err:
        apply_rejig(plan, move=True)
    assert str(last) in str(err.value)
    assert tree(tmp_path / "dst") == {str(last.relative_to(tmp_path / "dst")): b"precious"}
    assert all(e.source.exists() for e in plan.entries)
    with pytest.raises(DataError, match="never overwrites"):
        plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES)


def test_move_keeps_source_when_copy_does_not_verify(tmp_path, monkeypatch):
    make_faces(tmp_path / "src", 3, 3)
    plan = plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES)
    real = rejig_mod.file_sha256
    monkeypatch.setattr(rejig_mod, "file_sha256", lambda p: "bad" if p.name.endswith(".part") else real(p))
    with pytest.raises(DataError, match="does not match"):
        apply_rejig(plan, move=True)
    assert all(e.source.exists() for e in plan.entries)
    assert tree(tmp_path / "dst") == {}  # no final file and no temp file left


def test_crash_mid_copy_leaves_no_file_under_final_name(tmp_path, monkeypatch):
    files = make_faces(tmp_path / "src", 4, 4)
    plan = plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES)
    real_copy, calls = rejig_mod.shutil.copy2, []

    def flaky_copy(src, dst):
        calls.append(src)
        if len(calls) == 3:
            Path(dst).write_bytes(b"half")
            raise OSError("disk full")
        return real_copy(src, dst)

    monkeypatch.setattr(rejig_mod.shutil, "copy2", flaky_copy)
    with pytest.raises(DataError, match="2 of 8 file"):
        apply_rejig(plan, move=True)
    out = tree(tmp_path / "dst")
    assert len(out) == 2 and all(v in files.values() for v in out.values())
    assert sum(e.source.exists() for e in plan.entries) == 6  # only the two verified copies moved


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": {}}, "empty class map"),
        ({"classes": {"happy": ""}}, "non-empty string"),
        ({"classes": {"../x": "_Ha_"}}, "folder name"),
        ({"classes": {"Happy": "_Ha_", "happy": "_Sa_"}}, "differ only by case"),
        ({"classes": {"happy": "_Ha_", "glad": "_Ha_"}}, "share a substring"),
        ({"valid_fraction": 1.0}, r"valid_fraction must be a number in \[0, 1\)"),
        ({"valid_fraction": -0.1}, "valid_fraction"),
        ({"valid_fraction": float("nan")}, "valid_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"valid_fraction": 0.6, "test_fraction": 0.4}, "below 1"),
        ({"classes": {"happy": "_Ha_", "angry": "_An_"}}, "'angry'"),
        ({"seed": -1}, "seed"),
        ({"extensions": ()}, "extensions"),
        ({"extensions": (".jpg",)}, "no file"),
    ],
)
def test_bad_input_raises_data_error(tmp_path, kwargs, message):
    make_faces(tmp_path / "src", 4, 4)
    args = {"classes": CLASSES, **kwargs}
    with pytest.raises(DataError, match=message):
        plan_rejig(tmp_path / "src", tmp_path / "dst", args.pop("classes"), **args)


def test_missing_source_and_same_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        plan_rejig(tmp_path / "nope", tmp_path / "dst", CLASSES)
    make_faces(tmp_path / "src", 2, 2)
    with pytest.raises(DataError, match="same folder"):
        plan_rejig(tmp_path / "src", tmp_path / "src", CLASSES)


# --- table -------------------------------------------------------------------------------------

def test_format_counts_is_an_aligned_table(tmp_path):
    make_faces(tmp_path / "src", 120, 7)
    plan = plan_rejig(tmp_path / "src", tmp_path / "dst", CLASSES, valid_fraction=0.25, test_fraction=0.1)
    lines = format_counts(plan).splitlines()
    assert lines[0].split() == ["class", "train", "valid", "test", "total"]
    assert lines[1].split() == ["happy", "78", "30", "12", "120"]
    assert lines[2].split() == ["sad", "4", "2", "1", "7"]
    assert lines[3].split() == ["total", "82", "32", "13", "127"]
    assert len({len(line) for line in lines}) == 1  # right-aligned columns
    assert format_counts(apply_rejig(plan)) == format_counts(plan)
