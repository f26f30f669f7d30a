"""PostgreSQL row-level security: the second wall between customers.

The policy mirrors models/tenancy.py: a row is visible when the transaction's
``entryfy.scope`` is 'system' (the named cross-tenant path for jobs), or its ``customer_id``
is among ``entryfy.customer_ids``, or (tables with a subject column) it is the signed-in
person's own row. The settings are written per transaction with ``set_config(.., true)``.
Migrations call these functions with the table list frozen at that revision.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

APP_ROLE_DEFAULT = "entryfy_app"


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def policy_sql(table: str, subject_column: str | None) -> str:
    table = _ident(table)
    cond = (
        "current_setting('entryfy.scope', true) = 'system'"
        " OR customer_id = ANY (string_to_array("
        "nullif(current_setting('entryfy.customer_ids', true), ''), ',')::uuid[])"
    )
    if subject_column:
        cond += (
            f" OR {_ident(subject_column)} = "
            "nullif(current_setting('entryfy.account_id', true), '')::uuid"
        )
    return (
        f"DROP POLICY IF EXISTS tenant_isolation ON {table};"
        f"CREATE POLICY tenant_isolation ON {table} USING ({cond}) WITH CHECK ({cond});"
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
    )


def enable(conn: Connection, tables: dict[str, str | None]) -> None:
    """``tables``: tenant table -> subject column (or None)."""
    if conn.dialect.name != "postgresql":
        return
    for table, subject in tables.items():
        for stmt in policy_sql(table, subject).split(";"):
            if stmt.strip():
                conn.execute(text(stmt))


def ensure_app_role(conn: Connection, role: str | None = None) -> None:
    """The role the application runs as: owns nothing, cannot bypass RLS.

    Created NOLOGIN if missing; a deployment grants it to its login user
    (``GRANT entryfy_app TO app_user``) or logs in as a role that is a member of it.
    """
    if conn.dialect.name != "postgresql":
        return
    role = _ident(role or APP_ROLE_DEFAULT)
    # The role name passed _ident (letters, digits, underscore): safe to interpolate.
    conn.execute(text(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
        f"CREATE ROLE {role} NOLOGIN NOBYPASSRLS; END IF; END $$"
    ))
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
    conn.execute(text(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
    ))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    # Tables and sequences later migrations create get the same grants.
    conn.execute(text(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
    ))
    conn.execute(text(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
    ))
    # Migrations' own bookkeeping stays the owner's.
    if _has_table(conn, "alembic_version"):
        conn.execute(text(f"REVOKE ALL ON TABLE alembic_version FROM {role}"))


def _has_table(conn: Connection, name: str) -> bool:
    return bool(conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar())


def current_tenant_tables() -> dict[str, str | None]:
    from models.base import tenant_models

    return {
        m.__tablename__: m.__subject_column__  # type: ignore[attr-defined]
        for m in tenant_models()
    }
