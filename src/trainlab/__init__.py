"""trainlab: a PyTorch lab for deep-learning experiments."""
from .errors import TrainlabError

__version__ = "0.1.0"
__all__ = ["TrainlabError", "__version__"]
