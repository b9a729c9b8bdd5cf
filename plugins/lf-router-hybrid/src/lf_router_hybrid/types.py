"""What classifiers return now lives in the core (:mod:`lf.kinds.route`); kept as an alias for old imports."""

from lf.kinds.route import ClassificationResult, ExpertInfo

__all__ = ["ClassificationResult", "ExpertInfo"]
