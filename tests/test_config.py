import json

import pytest

from trainlab.config import apply_overrides, diff_configs, is_legacy, load_config, parse_config, translate_legacy
from trainlab.errors import ConfigError, TrainlabError, UnknownNameError


def test_defaults_and_overrides():
    cfg = parse_config({"train": {"epochs": 3}}, ["optim.lr=[0.1, 0.01]", "train.early_stopping.patience=2",
                                                  "data.augment=light", "model.freeze=null"])
    assert cfg.train.epochs == 3
    assert cfg.optim.lrs == [0.1, 0.01]
    assert cfg.train.early_stopping.patience == 2 and cfg.train.early_stopping.monitor == "valid.loss"
    assert cfg.data.augment == "light" and cfg.model.freeze is None


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'train.epoch'.*Did you mean 'epochs'"):
        parse_config({"train": {"epoch": 3}})
    with pytest.raises(ConfigError, match=r"unknown key 'optimizer'.*Did you mean 'optim'"):
        parse_config({"optimizer": {"lr": 1}})


@pytest.mark.parametrize("params, message", [
    ({"search": {"metric": "valid.loss"}}, "unknown key 'search.metric'. It was renamed: use search.monitor."),
    ({"search": {"direction": "maximize"}}, "unknown key 'search.direction'. It was renamed: use search.mode"),
    ({"focus": {"monitor": "accuracy"}}, "unknown key 'focus.monitor'. It was renamed: use focus.rank_by"),
    ({"focus": {"when": {"plateau": {"metric": "valid.loss"}}}},  # inside a union: no member tag in the key
     "unknown key 'focus.when.plateau.metric'. It was renamed: use focus.when.plateau.monitor. Valid keys here: "
     "monitor, patience, mode."),
    ({"focus": {"pass": {"steps": 2}, "k": 1, "pas": 1}}, "Valid keys here: k, rank_by, split, when, order, penalty, "
                                                           "pass, mode"),  # the alias, as a params file spells it
    ({"model": {"name": "mlp", "morph": [{"op": "widen", "factr": 2}]}},
     "unknown key 'model.morph.0.factr'. Did you mean 'factor'? Valid keys here: op, factor,"),
])
def test_an_unknown_key_names_its_place_the_valid_keys_and_a_renamed_keys_new_name(params, message):
    with pytest.raises(ConfigError) as info:
        parse_config({"data": {"name": "digits"}, "model": {"name": "mlp"}, **params})
    assert message in str(info.value)


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"train.epochs: .*greater than 0.*got -1"):
        parse_config({"train": {"epochs": -1}})
    with pytest.raises(ConfigError, match=r"optim.lr"):
        parse_config({"optim": {"lr": [0.1, -1]}})
    with pytest.raises(ConfigError, match=r"schedule.name"):
        parse_config({"schedule": {"name": "cosine_annealing"}})


def test_bad_override_form():
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["train.epochs"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"train": {"epochs": 3}}, ["train.epochs.x=1"])


def test_precision_accepts_int():
    assert parse_config({"train": {"precision": 32}}).train.precision == "32"


def test_yaml_and_json_files(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  epochs: 4\noptim:\n  name: sgd\n")
    cfg = load_config(tmp_path, ["train.seed=7"])
    assert (cfg.train.epochs, cfg.optim.name, cfg.train.seed) == (4, "sgd", 7)
    bad = tmp_path / "b"
    bad.mkdir()
    (bad / "params.json").write_text("{ not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing")
    empty = tmp_path / "e"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no params.json"):
        load_config(empty)


LEGACY = {
    "arch": "resnet18", "pretrain": False, "n_clas": 2, "im_sz": 64, "batch_size": 24, "bs_test": 48,
    "learning_rate": [1e-4, 1e-3, 1e-2], "wd": 1e-5, "ps": 0.25, "num_epochs": 7, "num_workers": 2, "cuda": True,
    "scheduler": "one_cycle", "div_factor": 10, "pct_start": 0.2, "save_summary_steps": 5,
    "early_stopping": {"patience": 3, "monitor_metric": "accuracy", "mode": "maximize"},
    "hyper_search": {"learning_rate": [[1e-4, 1e-3, 1e-2], [1e-3, 1e-2, 1e-1]]},
}


def test_legacy_translation():
    assert is_legacy(LEGACY) and not is_legacy({"train": {}})
    with pytest.warns(UserWarning, match="legacy"):
        cfg = parse_config(LEGACY)
    assert cfg.model.name == "resnet18" and cfg.model.num_classes == 2 and cfg.model.dropout == 0.25
    assert cfg.data.name == "folder" and cfg.data.image_size == (64, 64)
    assert (cfg.data.batch_size, cfg.data.eval_batch_size, cfg.data.num_workers) == (24, 48, 2)
    assert cfg.optim.lrs == [1e-4, 1e-3, 1e-2] and cfg.optim.weight_decay == 1e-5 and cfg.optim.name == "adam"
    assert cfg.schedule.name == "one_cycle" and cfg.schedule.div_factor == 10 and cfg.schedule.pct_start == 0.2
    assert cfg.train.epochs == 7 and cfg.train.device == "auto" and cfg.train.log_every == 5
    es = cfg.train.early_stopping
    assert (es.monitor, es.mode, es.patience) == ("valid.accuracy", "max", 3)
    assert cfg.search.space == {"optim.lr": LEGACY["hyper_search"]["learning_rate"]}
    assert cfg.search.sampler == "grid"


def test_legacy_variants():
    nested = translate_legacy({"num_epochs": 2, "early_stopping": {"monitor_metric": False}})
    assert "early_stopping" not in nested.get("train", {})
    minimize = translate_legacy({"early_stopping": {"monitor_metric": "loss", "minimize": True, "min_delta": 0.1}})
    assert minimize["train"]["early_stopping"]["mode"] == "min"
    assert translate_legacy({"scheduler": "cosine_annealing"})["schedule"]["name"] == "cosine"
    with pytest.raises(ConfigError, match="unknown keys"):
        translate_legacy({"num_epochs": 2, "learning_rat": 0.1})
    with pytest.warns(UserWarning, match="nothing downloads"):
        translate_legacy({"pretrain": True})


def test_legacy_early_stopping_patience_is_translated():
    with pytest.warns(UserWarning, match="legacy"):
        cfg = parse_config({"arch": "mlp", "early_stopping": 3})
    es = cfg.train.early_stopping
    assert (es.patience, es.monitor, es.mode) == (3, "valid.loss", "min")
    with pytest.raises(ConfigError, match="early_stopping 'soon'"), pytest.warns(UserWarning, match="legacy"):
        parse_config({"arch": "mlp", "early_stopping": "soon"})


def test_a_folder_with_two_params_files_is_refused(tmp_path):
    (tmp_path / "params.json").write_text("{}")
    (tmp_path / "params.yaml").write_text("train: {epochs: 2}\n")
    with pytest.raises(ConfigError, match="holds params.json and params.yaml; keep exactly one"):
        load_config(tmp_path)


def test_diff_configs():
    a = parse_config({}).model_dump(mode="json")
    b = parse_config({}, ["optim.lr=0.5", "train.epochs=2"]).model_dump(mode="json")
    assert diff_configs(a, b) == ["optim.lr", "train.epochs"]
    assert json.loads(json.dumps(a)) == a


def test_registry_lazy_entries_import_their_module_only_when_used(tmp_path, monkeypatch) -> None:
    import sys

    from trainlab.registry import Registry

    (tmp_path / "_trainlab_widget_plugin.py").write_text("def b():\n    return 'b'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "_trainlab_widget_plugin", raising=False)
    reg = Registry("widget")
    reg.register("a")(lambda: "a")
    reg.register_lazy("b", "_trainlab_widget_plugin:b")
    assert reg.list() == ["a", "b"] and reg.get("a")() == "a"
    assert "_trainlab_widget_plugin" not in sys.modules  # listed, not imported
    assert reg.get("b")() == "b"
    with pytest.raises(UnknownNameError, match="Available: a, b"):
        reg.get("c")
    with pytest.raises(TrainlabError, match="already registered"):
        reg.register_lazy("a", "x:y")


def test_features_register_their_sections_models_and_datasets_without_a_central_list() -> None:
    from trainlab.data import TASK_DATASETS
    from trainlab.models import MODELS
    from trainlab.registry import feature_modules

    assert {"trainlab.focus.feature", "trainlab.ocr.feature", "trainlab.morph.feature"} <= set(feature_modules())
    cfg = parse_config({"focus": {"k": 3}, "ocr": {"decoder": "beam"}, "model": {"morph": [{"op": "deepen"}]}})
    assert cfg.focus.k == 3 and cfg.ocr.decoder == "beam" and cfg.model.morph[0].op == "deepen"
    assert "crnn" in MODELS and "digit-strings" in TASK_DATASETS
    with pytest.raises(ConfigError, match="unknown key 'focs'.*Did you mean 'focus'"):
        parse_config({"focs": {}})


def test_docs_params_md_is_the_generated_reference():
    from pathlib import Path

    from trainlab.config import params_reference

    page = Path(__file__).resolve().parent.parent / "docs" / "params.md"
    assert page.read_text() == params_reference() + "\n", "regenerate it: trainlab params > docs/params.md"


def test_every_params_key_has_a_description():
    from trainlab.config import params_reference

    rows = [line for line in params_reference().splitlines() if line.startswith("| `")]
    missing = [line.split("`")[1] for line in rows if not line.rsplit("|", 2)[1].strip()]
    assert len(rows) > 100 and missing == [], f"add Field(description=...) to: {', '.join(missing)}"
