"""Per-subject drivers of a fitted linear predictor, for the ranked risk list.

Both `vadcore.outcomes` predictors end in a linear model on standardised features, so a
feature's contribution to one row is coefficient × standardised value (its pull away from the
cohort average). vadcore.outcomes has no explanation function yet; this reads the fitted
pipelines and should move there when one exists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vadcore.outcomes import GradePredictor, RiskPredictor


def _pipeline_contributions(pipeline, X: pd.DataFrame) -> np.ndarray:
    # The preprocessing steps see the DataFrame they were fitted on (feature names included).
    Z = np.asarray(pipeline[:-1].transform(X), dtype=float)
    return Z * np.ravel(pipeline[-1].coef_)


def contributions(estimator: GradePredictor | RiskPredictor, X: pd.DataFrame) -> pd.DataFrame:
    """Rows of X × features: each feature's contribution to the prediction, in the direction
    of *more risk* (lower grade, or higher at-risk log-odds) as positive."""
    X = X[list(estimator.feature_names_in_)]
    if isinstance(estimator, GradePredictor):
        values = -_pipeline_contributions(estimator.pipeline_, X)
    else:
        values = np.mean(
            [_pipeline_contributions(c.estimator, X) for c in estimator.model_.calibrated_classifiers_], axis=0
        )
    return pd.DataFrame(values, index=X.index, columns=X.columns)


def top_drivers(contrib: pd.DataFrame, X: pd.DataFrame, k: int = 3) -> list[str]:
    """For each row, the `k` features pushing most towards risk, e.g. 'valence_mean −0.41'."""
    out = []
    for idx, row in contrib.iterrows():
        top = row[row > 0].sort_values(ascending=False).head(k)
        out.append(", ".join(f"{name} {X.at[idx, name]:+.2f}" for name in top.index) or "—")
    return out
