"""A bounded, repeatable schemathesis run against a service's own OpenAPI document.

Every ``lf`` service serves ``/openapi.json`` generated from its request Structs;
:func:`fuzz_openapi` generates valid and invalid requests for each operation from it
(fixed seed: the same cases every run) and reports every answer of 500 or more. Plugin
authors can point it at a service of their own. Needs ``schemathesis`` (a dev dependency).

Example::

    report = fuzz_openapi(url, examples=25, headers={"Authorization": f"Bearer {KEY}"})
    assert report.server_errors == [], report.describe()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FuzzReport:
    """What a fuzz run sent and what went wrong."""

    cases: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    #: ``"METHOD /path -> status: body excerpt"`` for each 5xx answer.
    server_errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line of counts, then the server errors."""
        counts = ", ".join(f"{status}: {n}" for status, n in sorted(self.by_status.items()))
        return "\n".join([f"{self.cases} cases ({counts})", *self.server_errors[:20]])


def fuzz_openapi(
    url: str,
    *,
    examples: int = 25,
    seed: int = 0,
    headers: Mapping[str, str] | None = None,
    skip: Iterable[str] = (),
    fixed: Mapping[str, object] | None = None,
    timeout: float = 60.0,
) -> FuzzReport:
    """Send ``examples`` valid and ``examples`` invalid requests per operation of ``url``'s OpenAPI document.

    Args:
        url: the service's base URL (its document is ``url/openapi.json``).
        examples: requests per operation and mode (positive, negative).
        seed: the hypothesis seed: the same cases every run.
        headers: sent with every request (e.g. an API key).
        skip: operation labels (``"POST /admin/models/unload"``) not to call.
        fixed: top-level body fields set to these values where a generated body has them
            (``{"model": "tiny"}``: cases then reach the model instead of stopping at 404).
        timeout: seconds one request may take.
    """
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis.errors import Unsatisfiable

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    report = FuzzReport()
    skipped = set(skip)
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation raises here, as it should
        if operation.label in skipped:
            continue
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(
                max_examples=examples,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @fixed_seed(seed)
            @given(case=operation.as_strategy(generation_mode=mode).map(_with_fixed(fixed or {})))
            def call(case: schemathesis.Case) -> None:
                response = case.call(base_url=url, headers=dict(headers or {}), timeout=timeout)
                report.cases += 1
                report.by_status[response.status_code] = report.by_status.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    report.server_errors.append(
                        f"{operation.label} -> {response.status_code}: {response.content[:200]!r}"  # noqa: B023 - runs now
                    )

            try:
                call()
            except Unsatisfiable:  # e.g. no invalid request exists for an operation without inputs
                continue
    return report


def _with_fixed(fixed: Mapping[str, object]) -> Callable[[Any], Any]:
    def apply(case: Any) -> Any:
        if isinstance(case.body, dict):
            case.body.update({k: v for k, v in fixed.items() if k in case.body})
        return case

    return apply
