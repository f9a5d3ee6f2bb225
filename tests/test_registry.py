"""trainlab.registry: loading the features, one failing import at a time."""
import pytest

from trainlab import registry
from trainlab.errors import MAX_LINE, FeatureError


def test_a_feature_that_fails_to_import_is_named_and_the_others_still_load(tmp_path, monkeypatch):
    (tmp_path / "broken_feature.py").write_text("import a_module_that_is_not_installed\n")
    (tmp_path / "good_feature.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "feature_modules", lambda: ["broken_feature", "good_feature"])
    monkeypatch.setattr(registry, "_features", None)  # as in a fresh process
    for _ in range(2):  # before: the first call failed, the second returned with good_feature never imported
        with pytest.raises(FeatureError) as info:
            registry.load_features()
        message = str(info.value)
        assert message.startswith("the trainlab feature broken_feature cannot be imported (ModuleNotFoundError: "
                                  "No module named 'a_module_that_is_not_installed'); the other features are loaded")
        assert "\n" not in message and len(message) <= MAX_LINE
    import good_feature

    assert good_feature.LOADED
