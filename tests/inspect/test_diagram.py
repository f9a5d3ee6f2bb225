"""trainlab summary --diagram on the own models, an OCR model and a torchvision model."""
import shutil

import pytest
import torch

from trainlab.cli import main
from trainlab.models import build_model

from ..conftest import write_exp

pytest.importorskip("torchview", reason="the diagram extra is not installed (pip install 'trainlab[diagram]')")
if shutil.which("dot") is None:
    pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)", allow_module_level=True)

from trainlab.inspect.diagram import model_diagram  # noqa: E402


@pytest.mark.parametrize("name, kwargs, shape, expect", [
    ("cnn_small", {"num_classes": 10, "in_channels": 1, "input_size": (28, 28)}, (1, 1, 28, 28), "(1, 10)"),
    ("crnn", {"num_classes": 11, "in_channels": 1, "input_size": (32, 96)}, (1, 1, 32, 96), "LSTM"),
    ("resnet18", {"num_classes": 10, "in_channels": 3, "input_size": (64, 64)}, (1, 3, 64, 64), "(1, 64, 16, 16)"),
])
def test_diagram_of_registered_models(tmp_path, name, kwargs, shape, expect):
    model = build_model(name, **kwargs)
    model.train()
    svg, png = model_diagram(model, shape, tmp_path / name, depth=2)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and expect in text
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert model.training  # the flags are restored
    assert not any(p.device.type == "meta" for p in model.parameters())


def test_summary_diagram_cli(tmp_path, capsys):
    exp = write_exp(tmp_path / "digits", {"data": {"name": "digits"}, "model": {"name": "cnn_tiny",
                                                                                 "args": {"width": 4}}})
    assert main(["summary", str(exp), "--diagram"]) == 0
    out = capsys.readouterr().out
    assert "Total params" in out and f"wrote {exp / 'model.svg'}" in out
    svg = (exp / "model.svg").read_text()
    assert "(1, 4, 8, 8)" in svg and (exp / "model.png").stat().st_size > 1000
    # boxes and frames carry the module names --layer takes, not five anonymous "Sequential"s
    assert "stem: Sequential" in svg and "block1.0: Sequential" in svg and "stem.0: Conv2d" in svg
    assert "block1.0.0: Conv2d" not in svg  # depth 2 (the default) keeps block1.0 closed
    assert main(["summary", str(exp), "--diagram", "--depth", "3"]) == 0
    assert "block1.0.0: Conv2d" in (exp / "model.svg").read_text()


def test_a_model_that_cannot_run_gives_a_clear_error(tmp_path):
    from trainlab.errors import TrainlabError

    with pytest.raises(TrainlabError, match="could not trace"):
        model_diagram(torch.nn.Linear(3, 2), (1, 5), tmp_path / "bad")
