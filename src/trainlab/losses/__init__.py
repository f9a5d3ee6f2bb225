"""Training objectives aimed at worst-class accuracy: focal loss, class reweighting by validation error, Group DRO.

Enable one with a ``loss`` section in the params file, e.g. ``loss: {focal: {gamma: 2}}``,
``loss: {reweight: {strength: 0.5}}`` or ``loss: {group_dro: {step_size: 0.01}}``; or in Python pass the
callback to the Learner. Each sets :attr:`trainlab.engine.Learner.objective`; metrics keep the plain
cross-entropy. See docs/focus.md for how they compare with Adaptive Focus Learning.

Example:
    >>> from trainlab.losses import GroupDRO
    >>> GroupDRO(step_size=0.01).step_size
    0.01
"""
from ..lazy import lazy_exports

# imported on first use: loading the feature's registration (every params file does) stays cheap
lazy_exports(__name__, {
    ".adapter": ["objective_from_config"],
    ".objectives": ["ErrorReweighting", "FocalLoss", "GroupDRO", "LossObjective", "error_weights", "focal_loss"],
})
