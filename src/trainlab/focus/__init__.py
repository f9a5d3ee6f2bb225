"""Adaptive Focus Learning: extra, damped training on the classes the model currently does worst on.

After Harper & Laird, "Learn What You Don't Know: Adaptive Focus Learning" (SMU CS 8321, 2021), with the
original code's defects fixed (validation split only, shuffled focus subset, sample-weighted losses, a real
learning-rate scale). Enable it with a ``focus`` section in the params file, or in Python:

Example:
    >>> from trainlab.focus import FocusCallback, FocusLearning
    >>> cb = FocusCallback(FocusLearning(k=2, rank_by="loss", penalty=1e-2))
    >>> cb.strategy.train_pass_args()
    {'max_steps': None, 'lr_scale': 0.01, 'freeze_norm': True, 'restore_optimizer_state': True}
"""
from ..lazy import lazy_exports

# imported on first use: loading the feature's registration (every params file does) stays cheap
lazy_exports(__name__, {
    ".adapter": ["focus_from_config", "strategy_from_config"],
    ".callback": ["FocusCallback"],
    ".policies": ["AfterEpoch", "Always", "Every", "Plateau", "policy_from_config"],
    ".strategies": ["FOCUS_STRATEGIES", "FocusLearning", "ReversedFocusLearning", "SoftFocusLearning",
                    "focus_probabilities", "higher_is_worse"],
})
