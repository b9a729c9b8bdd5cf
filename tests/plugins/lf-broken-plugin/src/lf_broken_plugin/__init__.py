"""Imports a package that does not exist, as a half-installed plugin would."""

import lf_dependency_that_is_not_installed  # noqa: F401
