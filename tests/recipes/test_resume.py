"""A run with the weight EMA and mixup/cutmix on, stopped mid-epoch and resumed, is the uninterrupted run."""
import torch

from trainlab.engine import Callback
from trainlab.recipes import MixBatches, ModelEMA

from ..engine.helpers import tiny_learner


def recipe():
    return [ModelEMA(decay=0.95, warmup_steps=5), MixBatches(mixup_alpha=0.4, cutmix_alpha=1.0, seed=0)]


def test_stopped_mid_epoch_and_resumed_with_ema_and_mixing_is_bit_identical(tmp_path):
    class StopAt(Callback):
        def on_train_batch_end(self, learner):
            if learner.loop.epoch == 1 and learner.loop.batch == 3:
                learner.should_stop = True
                learner.save(tmp_path / "mid.pt")

    straight = tiny_learner(dropout=0.3, callbacks=recipe()).fit(3)
    tiny_learner(dropout=0.3, callbacks=[*recipe(), StopAt()]).fit(3)
    torch.manual_seed(99)  # whatever happened in between, the checkpoint restores every generator
    resumed = tiny_learner(dropout=0.3, callbacks=recipe()).load(tmp_path / "mid.pt")
    assert (resumed.loop.epoch, resumed.loop.batch) == (1, 3)
    resumed.fit(3)
    for name, a, b in (("model", straight.model, resumed.model), ("ema", straight.eval_model, resumed.eval_model)):
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k]), (name, k)
    for a, b in zip(straight.history.rows, resumed.history.rows):
        assert {k: v for k, v in a.items() if k not in ("time", "data_time")} == \
            {k: v for k, v in b.items() if k not in ("time", "data_time")}
    assert resumed.history.rows[-1]["weights"] == "ema" and "dominant label" in resumed.history.rows[-1]["mix"]
