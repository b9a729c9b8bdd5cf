"""The classifier base now lives in the core (:mod:`lf.kinds.route`); kept as an alias for old imports."""

from lf.kinds.route import GENERAL, BaseClassifier, ExpertSource, apply_exclusions, infos_of, to_info

__all__ = ["GENERAL", "BaseClassifier", "ExpertSource", "apply_exclusions", "infos_of", "to_info"]
