"""The example experiments shipped in experiments/ are valid and set up to run well on a shared 2-core machine."""
from pathlib import Path

import pytest

from trainlab.config import load_config

EXAMPLES = sorted(p for p in (Path(__file__).parent.parent / "experiments").iterdir() if p.is_dir())


@pytest.mark.parametrize("exp", EXAMPLES, ids=lambda p: p.name)
def test_every_example_parses(exp):
    assert load_config(exp).train.epochs > 0


def test_the_ocr_example_trains_on_one_thread():
    # 16 s/epoch with 1 thread; with 2 threads beside any other load on 2 cores an epoch took 139-166 s
    assert load_config(Path(__file__).parent.parent / "experiments" / "digits-ocr-crnn").train.num_threads == 1
