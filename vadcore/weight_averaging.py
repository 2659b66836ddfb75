"""Weight-space interpolation between a model and its fine-tuned descendant (WiSE-FT, Wortsman et al., CVPR 2022).

A network fine-tuned from another stays in the same basin of the loss, so the straight line between the two
sets of weights passes through models that are often better than either end: the fine-tune's robustness with
less of what it forgot. Batch-norm statistics are interpolated like the weights (both ends saw the same data).
"""

from __future__ import annotations

import copy
import logging

from vadcore.model import VADNet

logger = logging.getLogger(__name__)


def interpolate_weights(start: VADNet, end: VADNet, alpha: float) -> VADNet:
    """A new model with (1 − alpha)·start + alpha·end for every floating-point tensor (integer counters: end's)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if start.config != end.config:
        raise ValueError(f"the two models have different configs: {start.config} vs {end.config}")
    a, b = start.state_dict(), end.state_dict()
    mixed = {k: (1 - alpha) * a[k] + alpha * b[k] if b[k].is_floating_point() else b[k].clone() for k in b}
    model = copy.deepcopy(end)
    model.load_state_dict(mixed)
    logger.info("interpolated weights at alpha %.3f", alpha)
    return model.eval()
