from tests.staging._support import (  # noqa: F401 - fixtures
    make_portal,
    postgres_target,
    sql_target,
    sqlite_target,
)
