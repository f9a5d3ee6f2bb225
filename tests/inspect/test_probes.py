"""The probe recorder: files, compactness, cadence, resume, and its errors."""
import pytest
import torch

from trainlab.cli import main
from trainlab.config import load_config
from trainlab.errors import ConfigError, UnknownNameError
from trainlab.inspect import read_probes
from trainlab.runs import run_experiment

from ..conftest import write_exp
from .helpers import params


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    exp = write_exp(tmp_path_factory.mktemp("probe") / "digits", params(diagnostics=None))
    run_experiment(exp, load_config(exp))
    return exp


def test_records_init_and_every_epoch_as_float16(trained):
    rec = read_probes(trained)
    assert rec.epochs == [0, 1, 2, 3]
    assert rec.layers == ["stem", "block1", "block2"]  # the top-level feature-map blocks
    raw = torch.load(trained / "probes" / "epoch-0000.pt", weights_only=True)
    assert raw["block2"].dtype == torch.float16 and raw["block2"].shape == (5, 8, 4, 4)
    maps = rec.maps("block2")  # (epochs, images, C, H, W)
    assert maps.shape == (4, 5, 8, 4, 4)
    assert (maps[0] - maps[-1]).abs().max() > 0.1  # training changed what the block computes
    assert rec.inputs.shape == (5, 1, 8, 8) and len(rec.indices) == 5 and rec.targets.shape == (5,)


def test_probe_images_are_fixed_by_the_seed(trained, tmp_path):
    other = write_exp(tmp_path / "again", params(diagnostics=None))
    run_experiment(other, load_config(other, ["train.epochs=1"]))
    assert read_probes(other).indices == read_probes(trained).indices
    assert torch.equal(read_probes(other).maps("stem")[0], read_probes(trained).maps("stem")[0])  # same init


def test_every_records_the_last_epoch_too_and_resume_continues(tmp_path):
    exp = write_exp(tmp_path / "every", params(diagnostics=None, probe={"images": 3, "every": 2, "layers": ["block1.1"]}))
    run_experiment(exp, load_config(exp, ["train.epochs=3"]))
    assert read_probes(exp).epochs == [0, 2, 3]
    run_experiment(exp, load_config(exp, ["train.epochs=5"]), existing="resume", force=True)
    rec = read_probes(exp)
    assert rec.epochs == [0, 2, 3, 4, 5] and rec.layers == ["block1.1"]
    state = torch.load(exp / "checkpoints" / "last.pt", weights_only=True)
    assert state["callbacks"]["ProbeRecorder"] == {"indices": rec.indices, "recorded": [0, 2, 3, 4, 5]}


def test_restart_archives_the_probes(trained, tmp_path):
    exp = write_exp(tmp_path / "restart", params(diagnostics=None, probe={"images": 2}))
    run_experiment(exp, load_config(exp, ["train.epochs=1"]))
    run_experiment(exp, load_config(exp, ["train.epochs=1"]), existing="restart")
    assert len(list((exp / "archive").glob("*/probes/epoch-0001.pt"))) == 1


@pytest.mark.parametrize("probe, error, words", [
    ({"layers": ["block9"]}, UnknownNameError, "block1"),
    ({"max_mb": 0.0001}, ConfigError, "max_mb"),
])
def test_bad_settings_fail_before_training(tmp_path, probe, error, words):
    exp = write_exp(tmp_path / "bad", params(diagnostics=None, probe=probe))
    with pytest.raises(error, match=words):
        run_experiment(exp, load_config(exp))
    assert not (exp / "probes").exists()


def test_viz_progression_writes_a_grid_a_gif_and_the_index(trained, tmp_path, caplog):
    from PIL import Image

    out = tmp_path / "viz"
    assert main(["viz", str(trained), "--what", "progression", "--layer", "block1", "--channel", "2",
                 "--out", str(out)]) == 0
    with caplog.at_level("INFO", logger="trainlab"):
        assert main(["viz", str(trained), "--what", "progression", "--out", str(out)]) == 0
    assert "layer: block2 (the last recorded one" in caplog.text
    names = {p.name for p in out.iterdir()}
    assert {"progression-block1-c2.png", "progression-block1-c2.gif", "progression-block2-strongest.png",
            "progression-block2-strongest.gif"} <= names
    with Image.open(out / "progression-block1-c2.gif") as gif:
        assert gif.n_frames == 4  # epochs 0..3
        assert gif.size[0] > 5 * 8 * 4  # five probe images, enlarged
    html = (out / "index.html").read_text()
    assert 'src="progression-block1-c2.gif"' in html and 'src="progression-block2-strongest.png"' in html


@pytest.mark.parametrize("argv, words", [
    (["--layer", "block1", "--channel", "99"], "out of range"),
    (["--layer", "head"], "was not recorded"),
])
def test_viz_progression_errors(trained, tmp_path, capsys, argv, words):
    assert main(["viz", str(trained), "--what", "progression", "--out", str(tmp_path), *argv]) == 2
    assert words in capsys.readouterr().err


def test_viz_progression_without_records_says_how_to_get_them(tmp_path, capsys):
    exp = write_exp(tmp_path / "plain", params(diagnostics=None, probe=None))
    run_experiment(exp, load_config(exp, ["train.epochs=1"]))
    assert main(["viz", str(exp), "--what", "progression", "--out", str(tmp_path / "v")]) == 2
    assert "logging.probe" in capsys.readouterr().err


def test_recording_and_diagnosing_leave_training_bit_identical(tmp_path):
    """Both run in eval mode without gradients or random numbers: a seeded run must not change at all."""
    losses = []
    for name, extra in (("plain", {"probe": None, "diagnostics": None}), ("watched", {})):
        exp = write_exp(tmp_path / name, params(**extra))
        learner = run_experiment(exp, load_config(exp, ["train.epochs=2"])).learner
        losses.append([(r["train.loss"], r["valid.loss"]) for r in learner.history.rows])
    assert losses[0] == losses[1]


def test_strongest_channels_are_ranked_on_the_image_shown(trained):
    """Channel 0 is the strongest over all probe images but zero on the first one, which the columns show:
    it is left out instead of drawing a blank column; the others are ranked on that image."""
    import dataclasses

    from trainlab.errors import ModelError
    from trainlab.inspect.progression import progression

    rec = read_probes(trained)
    maps = torch.zeros(2, 5, 4, 3, 3)  # (epochs, images, C, H, W)
    maps[:, 1:, 0] = 100.0  # strong everywhere but on image 0
    maps[:, 0, 1], maps[:, 0, 2], maps[:, 0, 3] = 1.0, 3.0, 2.0

    class Record(type(rec)):
        def maps(self, layer):
            return maps

    fake = Record(**{f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)})
    fake.epochs = [0, 1]
    prog = progression(fake, "stem", k=8)
    assert prog.columns == ["channel 2", "channel 3", "channel 1"]
    assert (prog.frames.flatten(2).amax(2) > 0).all()  # no blank column
    maps[:, 0] = 0.0
    with pytest.raises(ModelError, match="every channel of 'stem' is zero on the first probe image"):
        progression(fake, "stem")
