"""visualize_experiment: the pictures of `trainlab viz` as a library call with typed arguments."""
import pytest

from trainlab.errors import ConfigError
from trainlab.viz import visualize_experiment
from trainlab.viz.experiment import WHAT


def test_the_pictures_are_drawn_named_and_reported_as_they_are_written(trained, tmp_path):
    seen = []
    pictures = visualize_experiment(trained, ["filters", "saliency", "filters"], indices=[2, 0], out=tmp_path,
                                    on_picture=lambda path, caption: seen.append((path, caption)))
    assert [p.name for p, _ in pictures.written] == ["filters-stem.0.png", "saliency.png"]  # once each, in order
    assert seen == pictures.written and all(p.is_file() and caption for p, caption in seen)
    assert "2 image(s)" in pictures.written[1][1]
    assert pictures.index == tmp_path / "index.html" and "saliency.png" in pictures.index.read_text()


def test_an_unknown_picture_is_refused_with_the_close_name(trained, tmp_path):
    with pytest.raises(ConfigError, match="unknown picture 'salency'. Did you mean 'saliency'"):
        visualize_experiment(trained, ["salency"], out=tmp_path)
    assert not any(tmp_path.iterdir())
    assert len(WHAT) == 13 and WHAT[0] == "feature-maps" and WHAT[-1] == "progression"
