"""Property-based fuzz of every endpoint in the OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid, signed in as a customer admin,
half of them with real ids of that customer in the path so the handlers behind the 404s are
reached too. No response may be a 500, invalid data must not be accepted, and every response
must match the document (status codes, content types, schemas). CI sets ENTRYFY_FUZZ=1 for
more examples; locally it stays quick.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation.modes import GenerationMode

from tests.factories import bearer
from tests.isolation import openapi, tenant_ids

EXAMPLES = 40 if os.environ.get("ENTRYFY_FUZZ") else 8

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]

# Invalid input may also be refused as too large (413): a refusal all the same.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({"checks": {
    "negative_data_rejection": {"expected-statuses": [
        400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]},
}})

# Calls that would end the fuzzer's own sign-in and turn every later example into a 401.
UNAUTHENTICATED = ("/auth/logout", "/me/password", "/auth/tokens/{token_id}")


# Ids of the fuzzer's own sign-in: deleting them would end it.
OWN_SIGN_IN = {"token_id", "device_id"}


def _real_ids(client, session, world) -> dict[str, str]:
    """One real object of every kind customer A can have, by path-parameter name."""
    ids = tenant_ids(session, world.a, client, openapi(client))
    return {k: v for k, v in ids.items() if k not in OWN_SIGN_IN}


def _runner(strategy, headers):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run


def test_api_never_breaks_its_contract(app, client, session, world):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    real = _real_ids(client, session, world)
    auth = bearer(client, world.a.admin)
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert operations, "the document lists no operations"
    for op in operations:
        params = {p.name for p in op.path_parameters}
        fixed = {k: v for k, v in real.items() if k in params}
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(op.as_strategy(mode))
            if fixed:
                strategies.append(op.as_strategy(mode, path_parameters=fixed))
        headers = {} if op.path.endswith(UNAUTHENTICATED) else auth

        run = _runner(st.one_of(strategies), headers)
        try:
            run()
        except Exception as exc:  # collect every operation's failure, not only the first
            failures.append(f"{op.label}: {exc}")
    assert not failures, "\n\n".join(failures)
