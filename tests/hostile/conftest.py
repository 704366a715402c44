"""The exams tests' sandbox-world fixtures (configurations picked by seed, the SmarterProctoring client, a sandbox
reset around each test), reused by the hostile-input tests."""

from tests.exams.conftest import cfg, clean_sandbox, sp, world  # noqa: F401
