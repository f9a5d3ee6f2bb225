"""Small Learners for engine tests: synthetic data and a tiny MLP, no model registry needed."""
import torch

from trainlab.config import DataConfig
from trainlab.data import data_from_config
from trainlab.engine import Learner


def tiny_learner(*, callbacks=(), lr=0.01, seed=0, batch_size=32, optimizer="adam", dropout=0.0, **kwargs):
    data = data_from_config(DataConfig(name="synthetic", batch_size=batch_size,
                                       args={"samples": 256, "image_size": 8}), seed=seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                torch.nn.Dropout(dropout), torch.nn.Linear(32, 4))
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    return Learner(model, data, optimizer=opt, callbacks=list(callbacks), **kwargs)
