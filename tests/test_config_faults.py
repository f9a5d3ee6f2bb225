"""The params loader under hostile input: any bytes, any JSON/YAML document, any nesting, any override give a
Config or a one-line ConfigError (never another exception), and accepted configs build or fail as TrainlabError.

The default run draws a few hundred documents; ``pytest -m slow tests/test_config_faults.py`` draws thousands.
"""
import json
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trainlab.config import Config, config_model, config_to_dict, load_config, parse_config, read_params
from trainlab.config.text import MAX_VALUES
from trainlab.errors import MAX_LINE, ConfigError, TrainlabError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # legacy params translated, etc.
REPO = Path(__file__).resolve().parents[1]
TINY = {"data": {"name": "synthetic", "batch_size": 16, "args": {"samples": 64, "image_size": 8}},
        "model": {"name": "mlp"}, "train": {"epochs": 1},
        "logging": {"tensorboard": False, "plot": False, "progress": "none"}}
BASES = [TINY, {}, *(json.loads(p.read_text()) for p in sorted((REPO / "experiments").glob("*/params.json")))]
LEGACY = {"arch": "resnet18", "learning_rate": 0.01, "num_epochs": 2, "im_sz": 32, "scheduler": "one_cycle"}
# Values that broke the loader once (issue 20) or sit on a boundary of torch's types.
SUSPICIOUS = [2**63, 2**64, 2**70, -(2**63) - 1, 1e40, -1e40, float("nan"), float("inf"), 1e-320, "x" * 10_000,
              "bogus", "meta", "1", "cuda:99", "2020-01-01", [1.5, 2.0], [0.9], [], {}, [1], [1, 2], True, 0, -1,
              None, [100000, 100000], "\n\t", "ü\u2028", 10**309, -(10**400)]
# Integer literals around Python's limits (issue 26): beyond float range (309+ digits) and beyond what Python
# reads into an int (4,300 digits), as text, since json.dumps cannot even write the latter.
LONG_NUMBERS = ["9" * 309, "1" + "0" * 309, "-" + "9" * 400, "1" * 4300, "1" * 4301, "-" + "7" * 5000,
                "0x" + "f" * 4000, "1_" + "0" * 4400, "1" + "0" * 4400 + ".5", "1e400"]


def schema_keys(model=None, prefix=""):
    """Every dotted key of the params schema."""
    keys = []
    for name, field in (model or config_model()).model_fields.items():
        keys.append(prefix + name)
        for sub in getattr(field.annotation, "__args__", (field.annotation,)):
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                keys += schema_keys(sub, f"{prefix}{name}.")
    return keys


KEYS = schema_keys() + list(LEGACY)
scalars = (st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(max_size=20)
           | st.sampled_from(SUSPICIOUS))
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                        max_size=4), max_leaves=12)


def set_dotted(doc: dict, key: str, value) -> None:
    *parents, last = key.split(".")
    for part in parents:
        if not isinstance(doc.get(part), dict):
            doc[part] = {}
        doc = doc[part]
    doc[last] = value


# Accepted configs must also build and train: a Learner, or a TrainlabError (an unknown model option, a bad
# dataset argument). Values follow each key's type most of the time, so that many configs are accepted, and
# stay moderate, so that an accepted config is cheap to build.
moderate = st.recursive(st.none() | st.booleans() | st.integers(-3, 70) | st.floats(-2, 2) | st.text(max_size=6)
                        | st.sampled_from(["cpu", "mlp", "cnn_tiny", "valid.accuracy", [0.5, 0.9], [8, 8], 2**70, 1e40]),
                        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=2),
                        max_leaves=4)
SKIPPED = ("data.root", "data.download", "data.name", "data.num_workers", "train.compile", "train.num_threads",
           "model.pretrained", "train.device", "model.name")
BUILD_KEYS = [k for k in KEYS if k.split(".")[0] in ("data", "model", "optim", "schedule", "train") and "." in k
              and k not in SKIPPED]
NUMBERS = {"data.batch_size": st.integers(1, 80), "data.max_train_samples": st.integers(1, 80),
           "train.epochs": st.integers(1, 2), "train.accumulate": st.integers(1, 4), "optim.lr": st.floats(1e-5, 10.0),
           "train.save_every_steps": st.integers(1, 5), "train.log_every": st.integers(1, 5)}


def field_values(key: str):
    """A strategy for ``key``'s value: mostly of its type (its Literal choices, a number near the default)."""
    model, *parts = config_model(), *key.split(".")
    field = None
    for part in parts:
        field = model.model_fields[part]
        model = next((a for a in getattr(field.annotation, "__args__", (field.annotation,))
                      if isinstance(a, type) and hasattr(a, "model_fields")), None) or model
    ann = field.annotation
    choices = [a for a in getattr(ann, "__args__", ()) if isinstance(a, str | int) and not isinstance(a, bool)]
    typed = (NUMBERS[key] if key in NUMBERS else st.sampled_from(choices)
             if choices and str(ann).startswith("typing.Literal") else st.booleans() if ann is bool
             else st.integers(0, 8) if ann in (int, int | None) else st.floats(0, 0.99) if ann in (float, float | None)
             else moderate)
    return st.one_of(typed, typed, typed, moderate)


@st.composite
def mutated_params(draw, values=json_values, bases=BASES + [LEGACY]):
    doc = json.loads(json.dumps(draw(st.sampled_from(bases))))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(KEYS) | st.text(min_size=1, max_size=10))
        typed = key in BUILD_KEYS and draw(st.booleans())  # half the time a value of the key's type
        set_dotted(doc, key, draw(field_values(key) if typed else values))
    for key in draw(st.lists(st.sampled_from(sorted(doc) or ["x"]), max_size=2)):
        doc.pop(key, None)
    return doc


def edit(text: str, edits: list[tuple[int, int, str]]) -> str:
    for at, cut, insert in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + cut:]
    return text


text_edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 5),
                                st.text(alphabet="{}[]:,&*!|>-'\"#%@`\n\t 0a\\", max_size=4)), max_size=4)


@st.composite
def alias_bomb(draw):
    levels, width = draw(st.integers(2, 9)), draw(st.integers(2, 10))
    lines = ["a0: &a0 [lol, lol]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


deep = st.builds(lambda n, kind: {"list": "[" * n + "]" * n, "dict": '{"a":' * n + "1" + "}" * n,
                                  "yaml": "".join("  " * i + "a:\n" for i in range(n)) + "  " * n + "1\n"}[kind],
                 st.integers(1, 6000), st.sampled_from(["list", "dict", "yaml"]))
yaml_specials = st.sampled_from([
    "data: {root: 2020-01-01}", "data: &a {args: {x: *a}}", "data: !!python/object:os.system {}",
    "data: !!python/tuple [1, 2]", "data: {args: {x: !!binary aGVsbG8=}}", "data: {args: {x: !!set {a, b}}}",
    "data: {root: !!timestamp 2020-01-01}", "data: !custom {}", "a: 1\n---\nb: 2", "? [1, 2]\n: x",
    "1: {2: 3}", "null: 1", "train: {epochs: 0x10}", "data: {name: [\n  x: y\n", "model: {name: mlp}\n\tbad: tab",
    "<<: {train: {epochs: 2}}", "base: &b {epochs: 2}\ntrain:\n  <<: *b\n  seed: 3",
])


@st.composite
def params_files(draw):
    """(file name, bytes) of a params file: mutated settings as JSON or YAML, edited text, bombs, raw bytes."""
    kind = draw(st.sampled_from(["json", "yaml", "edited", "bytes", "deep", "bomb", "special", "number"]))
    event(f"document: {kind}")
    if kind == "number":  # a long integer literal in place of one of the settings
        doc = draw(mutated_params())
        key = draw(st.sampled_from(KEYS))
        set_dotted(doc, key, "@NUMBER@")
        name = draw(st.sampled_from(["params.json", "params.yaml"]))
        text = json.dumps(doc) if name.endswith(".json") else yaml.safe_dump(doc)
        return name, text.replace("'@NUMBER@'", "@NUMBER@").replace('"@NUMBER@"', "@NUMBER@").replace(
            "@NUMBER@", draw(st.sampled_from(LONG_NUMBERS))).encode()
    if kind in ("json", "yaml", "edited"):
        doc = draw(mutated_params())
        name = draw(st.sampled_from(["params.json", "params.yaml"])) if kind == "edited" else f"params.{kind}"
        text = json.dumps(doc) if name.endswith(".json") else yaml.safe_dump(doc)
        return name, (edit(text, draw(text_edits)) if kind == "edited" else text).encode()
    if kind == "bytes":
        return draw(st.sampled_from(["params.json", "params.yaml"])), draw(st.binary(max_size=200))
    if kind == "deep":
        text = draw(deep)
        return ("params.yaml" if text.startswith("a:") else draw(st.sampled_from(["params.json", "params.yaml"])),
                text.encode())
    text = draw(alias_bomb()) if kind == "bomb" else draw(yaml_specials)
    return "params.yaml", text.encode(draw(st.sampled_from(["utf-8", "utf-16", "latin-1"])) if "ü" in text else "utf-8")


overrides = st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS) | st.text(max_size=8),
                               st.text(max_size=12) | st.sampled_from(["[1,", "2020-01-01", "&a [*a]", "1e40",
                                                                         "9" * 30, "!!set {a}", "{a: 1}",
                                                                         *LONG_NUMBERS])),
                     max_size=2)


def check_one_line(error: TrainlabError) -> None:
    message = str(error)
    assert message and "\n" not in message and "\r" not in message and len(message) <= MAX_LINE, message


def load_or_refuse(name: str, data: bytes, sets: list[str]) -> Config | None:
    """The property: a Config whose settings survive a round trip, or a one-line TrainlabError."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_bytes(data)
        try:
            cfg = load_config(Path(tmp), sets)
        except TrainlabError as e:
            check_one_line(e)
            event(f"rejected: {type(e).__name__}")
            return None
    event("accepted")
    assert isinstance(cfg, Config)
    assert parse_config(config_to_dict(cfg)) == cfg  # what params.resolved.json records reads back the same
    return cfg


@settings(max_examples=300, deadline=None)
@given(params_files(), overrides)
def test_any_params_file_gives_a_config_or_one_line_error(file, sets):
    load_or_refuse(*file, sets)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(params_files(), overrides)
def test_any_params_file_gives_a_config_or_one_line_error_many(file, sets):
    load_or_refuse(*file, sets)


@st.composite
def buildable_params(draw):
    doc = json.loads(json.dumps(TINY))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(BUILD_KEYS))
        set_dotted(doc, key, draw(field_values(key)))
    return doc


def build_or_refuse(doc: dict) -> None:
    from trainlab.engine.factory import learner_from_config

    try:
        cfg = parse_config(doc)
        learner = learner_from_config(cfg)
        learner.fit(1)
    except TrainlabError as e:
        check_one_line(e)
        event(f"rejected: {type(e).__name__}")
    else:
        event("accepted")
        assert learner.loop.epoch == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buildable_params())
def test_an_accepted_config_builds_or_fails_in_one_line(doc):
    build_or_refuse(doc)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buildable_params())
def test_an_accepted_config_builds_or_fails_in_one_line_many(doc):
    build_or_refuse(doc)


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    # 9 levels of 10 aliases: 10^8 values once expanded; the 395-byte file once took 25 s and 1.95 GB
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (tmp_path / "params.yaml").write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"expands to more than {MAX_VALUES:,} values through its aliases"):
        read_params(tmp_path / "params.yaml")
    assert time.perf_counter() - start < 1.0


def test_yaml_aliases_within_the_bound_still_work(tmp_path):
    (tmp_path / "params.yaml").write_text("common: &c {epochs: 2, seed: 3}\ntrain: *c\n")
    assert read_params(tmp_path / "params.yaml")["train"] == {"epochs": 2, "seed": 3}
    (tmp_path / "params.yaml").write_text("base: &b {epochs: 2}\ntrain:\n  <<: *b\n  seed: 3\n")
    assert read_params(tmp_path / "params.yaml")["train"] == {"epochs": 2, "seed": 3}


def test_a_yaml_date_stays_text_as_in_json(tmp_path):
    (tmp_path / "params.yaml").write_text("data: {name: synthetic, root: 2020-01-01}\n")
    assert load_config(tmp_path, ["data.split_seed=7"]).data.root == "2020-01-01"
    assert load_config(tmp_path, ["data.root=2021-02-03"]).data.root == "2021-02-03"


def test_a_yaml_tag_for_another_type_is_refused_naming_it(tmp_path):
    (tmp_path / "params.yaml").write_text("data:\n  args: {x: !!set {a, b}}\n")
    with pytest.raises(ConfigError, match=r"the tag '!!set' is not allowed.*at line 2"):
        read_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("number", LONG_NUMBERS)
@pytest.mark.parametrize("how", ["params.json", "params.yaml", "--set"])
def test_a_long_integer_is_refused_in_one_line(tmp_path, number, how):
    """Before issue 26: OverflowError (309+ digits, formatting the refusal) or ValueError (4,300+ digits)."""
    if how == "--set":
        (tmp_path / "params.json").write_text("{}")
        sets = [f"train.seed={number}"]
    else:
        text = '{"train": {"seed": %s}}' % number if how == "params.json" else f"train:\n  seed: {number}\n"
        (tmp_path / how).write_text(text)
        sets = []
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, sets)
    check_one_line(info.value)
    assert "train.seed" in str(info.value) or "not valid" in str(info.value)


def test_overrides_cannot_smuggle_what_files_cannot():
    with pytest.raises(ConfigError, match="64 bits"):
        parse_config(TINY, ["train.seed=" + "9" * 30])
    with pytest.raises(ConfigError, match="float32"):
        parse_config(TINY, ["optim.lr=1e40"])
    assert parse_config(TINY, ["data.args={samples: 64, image_size: 8}"]).data.args["samples"] == 64
