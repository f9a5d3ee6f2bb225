"""A tiny digits run with the probe recorder and the diagnostics on, shared by the inspect tests."""
import copy

PARAMS = {
    "data": {"name": "digits", "batch_size": 128},
    "model": {"name": "cnn_tiny", "args": {"width": 4}},
    "optim": {"name": "adam", "lr": 0.02},
    "train": {"epochs": 3, "seed": 0, "num_threads": 1},
    "logging": {"tensorboard": True, "plot": False, "progress": "none",
                "probe": {"images": 5}, "diagnostics": {"images": 16}},
}


def params(**logging) -> dict:
    p = copy.deepcopy(PARAMS)
    p["logging"].update(logging)
    return p
