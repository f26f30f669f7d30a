"""PostgreSQL row-level security: the second wall between customers.

The policy mirrors models/tenancy.py: a row is visible when the transaction's
``entryfy.scope`` is 'system' (the named cross-tenant path for jobs), or its ``customer_id``
is among ``entryfy.customer_ids``, or (tables with a subject column) it is the signed-in
person's own row. The settings are written per transaction with ``set_config(.., true)``.
Migrations call these functions with the table list frozen at that revision.

The web role may write those settings, so since revision 0011 they count only when signed:
``entryfy.sig`` = HMAC-SHA256(scope key, "ids|account|scope|signed_at") (the app signs,
``models.tenancy``), checked by ``entryfy_scope_valid()``, a SECURITY DEFINER function that
reads the key from ``entryfy_private``, a schema the web role cannot enter. A signature is
good for transactions that began at most ``SIGNATURE_TTL`` after it was made (``now()`` is the
transaction's start), so one seen once cannot be replayed later. Two SECURITY DEFINER
functions sign inside the database, where the app cannot know the values beforehand, each
narrowing what it may sign: ``entryfy_enter_account`` (the sign-in: only the account of a
live token whose hash it is given) and ``entryfy_scope_customers`` (a signed person may scope
to customers they are a member of). Since revision 0017 the platform tables (accounts,
tokens, devices, e-mail codes) are behind the wall as well, and the token sign-in is
``entryfy_sign_in``. See docs/ARCHITECTURE.md, "The database wall".

Since revision 0023 the policies of entries and access_events (the tables whose admin lists
page through thousands of a customer's rows) spell the customer test
of USING as a subquery, ``customer_id IN (SELECT unnest(<scope ids>))``; WITH CHECK keeps
``= ANY (<ids>)``. The same rows, but PostgreSQL no longer estimates the test at the
customer's share of the table on top of the query's own ``customer_id = X`` (``policy_sql``).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

APP_ROLE_DEFAULT = "entryfy_app"


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


_SCOPE_ARRAY = ("string_to_array(nullif(current_setting('entryfy.customer_ids', true), ''), "
                "',')::uuid[]")
# The customer test as a check (WITH CHECK; USING of most tables) ...
CUSTOMER_ANY = f"customer_id = ANY ({_SCOPE_ARRAY})"
# ... and as USING of entries and access_events spells it since 0023: the same rows (an empty
# or missing scope gives the subquery no row, so false where the ANY gave null: both refuse).
CUSTOMER_IN_SCOPE = f"customer_id IN (SELECT unnest({_SCOPE_ARRAY}))"


def policy_sql(table: str, subject_column: str | None, *, signed: bool = False,
               estimated: bool = False) -> str:
    """``signed``: the settings count only with a valid signature (revision 0011 on).

    ``estimated`` (revision 0023 on, entries and access_events): USING tests the customer with
    ``CUSTOMER_IN_SCOPE``. PostgreSQL folds the settings when it plans, so it estimated
    ``customer_id = ANY (ids)`` at the customer's share of the table and, the two being
    independent to it, multiplied that by the query's own ``customer_id = X``: a customer with
    1,835 of 2M entries was estimated at 5 rows, under a page, so its admin list read and
    sorted all 1,835 (bitmap scan, 20 ms) instead of one page of the (customer_id,
    checked_in_at) index (0.6 ms; docs/SCALING.md, "Data at size"). A subquery inside the OR
    is a SubPlan, which the planner counts as one half whatever the customer: the policy
    repeats the app's own tenant criteria (models.tenancy), which already carry the
    customer's share, so it must not shrink the estimate again. The price: the subquery is
    planned and its hash table built at every statement, ~35 us (pgbench, a primary-key read
    0.14 -> 0.18 ms), hence only where lists grow with the customer. WITH CHECK is no
    estimate and keeps the ANY (no subplan for an insert to run).
    """
    table = _ident(table)
    system = "current_setting('entryfy.scope', true) = 'system'"
    own = (f" OR {_ident(subject_column)} = "
           "nullif(current_setting('entryfy.account_id', true), '')::uuid"
           if subject_column else "")
    check = f"{system} OR {CUSTOMER_ANY}{own}"
    using = f"{system} OR {CUSTOMER_IN_SCOPE if estimated else CUSTOMER_ANY}{own}"
    if signed:
        # A scalar subquery: an InitPlan, one check per statement, not one per row.
        check, using = f"{VALID} AND ({check})", f"{VALID} AND ({using})"
    return (
        f"DROP POLICY IF EXISTS tenant_isolation ON {table};"
        f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check});"
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
    )


def enable(conn: Connection, tables: dict[str, str | None]) -> None:
    """``tables``: tenant table -> subject column (or None)."""
    if conn.dialect.name != "postgresql":
        return
    signed = _has_signed_scope(conn)
    for table, subject in tables.items():
        # A policy made again keeps the customer test it has (0023's, or not).
        estimated = _has_estimated_scope(conn, table)
        _execute(conn, policy_sql(table, subject, signed=signed, estimated=estimated))


def _has_estimated_scope(conn: Connection, table: str) -> bool:
    return bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND "
        "tablename = :t AND policyname = 'tenant_isolation' AND qual LIKE '%unnest(%')"),
        {"t": table}).scalar())


def set_estimated_scope(conn: Connection, tables: dict[str, str | None],
                        estimated: bool) -> None:
    """Revision 0023 (and back): the USING of ``tables`` (table -> subject column) in the
    subquery form or not; their signed policies are made again whole, as ``enable`` does."""
    if conn.dialect.name != "postgresql":
        return
    for table, subject in tables.items():
        _execute(conn, policy_sql(table, subject, signed=True, estimated=estimated))


def _execute(conn: Connection, sql: str) -> None:
    """``policy_sql``'s statements, one by one."""
    for stmt in sql.split(";"):
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
        # Every tenant model is a TenantMixin, which declares it; the list is typed by Base.
        m.__tablename__: m.__subject_column__  # type: ignore[attr-defined]  # see above
        for m in tenant_models()
    }


# ---------------------------------------------------------------------- signed scope (0011)

SIGNATURE_TTL_SECONDS = 60
VALID = "(SELECT public.entryfy_scope_valid())"
PRIVATE = "entryfy_private"

# HMAC-SHA256 with PostgreSQL's own sha256() (no extension needed): the key is stored as its
# two padded forms, so HMAC(k, m) = sha256(opad || sha256(ipad || m)). Every name outside
# pg_catalog is schema-qualified (pg_catalog is searched first and pg_temp never for
# functions), so the SECURITY DEFINER functions need no search_path of their own (a SET
# clause would cost every statement a configuration save and restore).
SIGNED_SCOPE_SQL = [
    f"CREATE SCHEMA IF NOT EXISTS {PRIVATE}",
    f"REVOKE ALL ON SCHEMA {PRIVATE} FROM PUBLIC",
    f"CREATE TABLE IF NOT EXISTS {PRIVATE}.scope_key (id integer PRIMARY KEY CHECK (id = 1), "
    "ipad bytea NOT NULL, opad bytea NOT NULL)",
    # plpgsql, not SQL: its plans are cached for the session, where a SQL function that
    # cannot be inlined (SECURITY DEFINER) is planned again at every statement.
    f"""CREATE OR REPLACE FUNCTION {PRIVATE}.sign(msg text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE k record;
BEGIN
  SELECT ipad, opad INTO k FROM {PRIVATE}.scope_key WHERE id = 1;
  RETURN pg_catalog.encode(pg_catalog.sha256(k.opad || pg_catalog.sha256(
    k.ipad || pg_catalog.convert_to(msg, 'UTF8'))), 'hex');
END
$$""",
    f"""CREATE OR REPLACE FUNCTION public.entryfy_scope_valid() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
  sig text := pg_catalog.current_setting('entryfy.sig', true);
  ts text := pg_catalog.current_setting('entryfy.signed_at', true);
  k record;
BEGIN
  IF sig IS NULL OR sig = '' OR ts IS NULL OR ts = '' THEN
    RETURN false;
  END IF;
  -- The HMAC inline (not via sign()): this runs for every statement, one call less.
  SELECT ipad, opad INTO k FROM {PRIVATE}.scope_key WHERE id = 1;
  IF sig IS DISTINCT FROM pg_catalog.encode(pg_catalog.sha256(k.opad || pg_catalog.sha256(
      k.ipad || pg_catalog.convert_to(
        coalesce(pg_catalog.current_setting('entryfy.customer_ids', true), '') || '|' ||
        coalesce(pg_catalog.current_setting('entryfy.account_id', true), '') || '|' ||
        coalesce(pg_catalog.current_setting('entryfy.scope', true), '') || '|' || ts,
        'UTF8'))), 'hex') THEN
    RETURN false;
  END IF;
  -- Signed: ts is the app's number. Good for transactions begun up to the TTL after it.
  RETURN pg_catalog.now() <= pg_catalog.to_timestamp(ts::double precision)
    + interval '{SIGNATURE_TTL_SECONDS} seconds';
END
$$""",
    # The sign-in: the person's context, signed, for the account of a live token only.
    f"""CREATE OR REPLACE FUNCTION public.entryfy_enter_account(
    token_hash text, kind text, at timestamptz) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER AS $$
  SELECT pg_catalog.concat(
    pg_catalog.set_config('entryfy.customer_ids', '', true),
    pg_catalog.set_config('entryfy.account_id', v.acct, true),
    pg_catalog.set_config('entryfy.scope', '', true),
    pg_catalog.set_config('entryfy.signed_at', v.ts, true),
    pg_catalog.set_config('entryfy.sig', {PRIVATE}.sign('|' || v.acct || '||' || v.ts), true))
  FROM (SELECT coalesce((
      SELECT t.account_id::text FROM public.access_tokens t
      JOIN public.accounts a ON a.id = t.account_id
      WHERE t.token_hash = $1 AND t.kind = $2 AND t.revoked_at IS NULL
        AND t.expires_at > $3 AND a.is_active), '') AS acct,
    pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::bigint::text AS ts) v
$$""",
    # Narrowing to customers: a signed person to customers they are a member of; the system
    # scope to any. Anything else leaves the settings as they are and returns ''.
    f"""CREATE OR REPLACE FUNCTION public.entryfy_scope_customers(ids text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
DECLARE
  acct text := coalesce(pg_catalog.current_setting('entryfy.account_id', true), '');
  scope text := coalesce(pg_catalog.current_setting('entryfy.scope', true), '');
  ts text := pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::bigint::text;
BEGIN
  ids := coalesce(ids, '');
  IF NOT public.entryfy_scope_valid() THEN
    RETURN '';
  END IF;
  IF scope <> 'system' AND ids <> '' AND (acct = '' OR EXISTS (
      SELECT 1 FROM pg_catalog.unnest(pg_catalog.string_to_array(ids, ',')::uuid[]) AS c(id)
      WHERE NOT EXISTS (SELECT 1 FROM public.memberships m
                        WHERE m.customer_id = c.id AND m.account_id = acct::uuid))) THEN
    RETURN '';
  END IF;
  PERFORM pg_catalog.set_config('entryfy.customer_ids', ids, true),
          pg_catalog.set_config('entryfy.signed_at', ts, true),
          pg_catalog.set_config('entryfy.sig', {PRIVATE}.sign(
            ids || '|' || acct || '|' || scope || '|' || ts), true);
  RETURN ids;
END
$$""",
]

# The customers table (platform data, no customer_id column): a customer is visible in the
# system scope, in its own tenant context, and to the signed-in people who are its members
# (their memberships name it: /me, require_customer). Written only in the system scope
# (creating a customer, offboarding) or in its own context.
_CUSTOMER_IDS = ("id = ANY (string_to_array(nullif(current_setting('entryfy.customer_ids', "
                 "true), ''), ',')::uuid[])")
_SYSTEM = "current_setting('entryfy.scope', true) = 'system'"
_ACCOUNT = "nullif(current_setting('entryfy.account_id', true), '')::uuid"


def _staff(roles: str) -> str:
    return (f"EXISTS (SELECT 1 FROM accounts a WHERE a.id = {_ACCOUNT} AND a.is_active "
            f"AND a.staff_role IN ({roles}))")


_STAFF_READS = _staff("'support', 'platform_admin'")
_STAFF_WRITES = _staff("'platform_admin'")

# Vendor staff (support, platform admins) see the customer records (the vendor's own
# customer relationships); platform admins also change them (offboarding).
CUSTOMERS_RLS = [
    "DROP POLICY IF EXISTS customer_visible ON customers",
    f"CREATE POLICY customer_visible ON customers USING ({VALID} AND ({_SYSTEM} OR "
    f"{_CUSTOMER_IDS} OR id IN (SELECT m.customer_id FROM memberships m WHERE m.account_id = "
    f"{_ACCOUNT}) OR {_STAFF_READS})) "
    f"WITH CHECK ({VALID} AND ({_SYSTEM} OR {_CUSTOMER_IDS} OR {_STAFF_WRITES}))",
    "ALTER TABLE customers ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE customers FORCE ROW LEVEL SECURITY",
]

UNSIGNED_SCOPE_SQL = [
    "DROP POLICY IF EXISTS customer_visible ON customers",
    "ALTER TABLE customers NO FORCE ROW LEVEL SECURITY",
    "ALTER TABLE customers DISABLE ROW LEVEL SECURITY",
    "DROP FUNCTION IF EXISTS public.entryfy_scope_customers(text)",
    "DROP FUNCTION IF EXISTS public.entryfy_enter_account(text, text, timestamptz)",
    "DROP FUNCTION IF EXISTS public.entryfy_scope_valid()",
    f"DROP SCHEMA IF EXISTS {PRIVATE} CASCADE",
]


def _has_signed_scope(conn: Connection) -> bool:
    return bool(conn.execute(text(
        "SELECT to_regprocedure('public.entryfy_scope_valid()') IS NOT NULL")).scalar())


def _policies(conn: Connection) -> list[tuple[str, str, str | None, str | None]]:
    return [tuple(r) for r in conn.execute(text(
        "SELECT tablename, policyname, qual, with_check FROM pg_policies "
        "WHERE schemaname = 'public' ORDER BY tablename, policyname"))]


def install_signed_scope(conn: Connection) -> None:
    """Create the checking functions, and make every policy's settings count only when
    signed: each USING / WITH CHECK becomes ``valid AND (...)`` (the originals are kept for
    the downgrade). The platform chain of the audit trail stays open to appends from any
    context (``customer_id IS NULL``), as before."""
    if conn.dialect.name != "postgresql":
        return
    for stmt in SIGNED_SCOPE_SQL:
        conn.execute(text(stmt))
    conn.execute(text(
        f"CREATE TABLE IF NOT EXISTS {PRIVATE}.unsigned_policies (tablename name, "
        "policyname name, qual text, with_check text, PRIMARY KEY (tablename, policyname))"))
    for table, name, qual, check in _policies(conn):
        parts = []
        if qual and "entryfy_scope_valid" not in qual:
            parts.append(f"USING ({VALID} AND ({qual}))")
        if check and "entryfy_scope_valid" not in check:
            if (table, name) == ("audit_events", "audit_append"):
                parts.append(f"WITH CHECK (customer_id IS NULL OR ({VALID} AND ({check})))")
            else:
                parts.append(f"WITH CHECK ({VALID} AND ({check}))")
        if parts:
            conn.execute(text(f"INSERT INTO {PRIVATE}.unsigned_policies VALUES "
                              "(:t, :n, :q, :c) ON CONFLICT DO NOTHING"),
                         {"t": table, "n": name, "q": qual, "c": check})
            conn.execute(text(f"ALTER POLICY {_ident(name)} ON {_ident(table)} "
                              + " ".join(parts)))
    for stmt in CUSTOMERS_RLS:
        conn.execute(text(stmt))


def uninstall_signed_scope(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for table, name, qual, check in conn.execute(text(
            f"SELECT tablename, policyname, qual, with_check FROM {PRIVATE}.unsigned_policies"
            " p WHERE EXISTS (SELECT 1 FROM pg_policies x WHERE x.schemaname = 'public' AND "
            "x.tablename = p.tablename AND x.policyname = p.policyname)")).all():
        parts = [f"{clause} ({expr})" for clause, expr in (("USING", qual),
                                                           ("WITH CHECK", check)) if expr]
        conn.execute(text(f"ALTER POLICY {_ident(name)} ON {_ident(table)} " + " ".join(parts)))
    for stmt in UNSIGNED_SCOPE_SQL:
        conn.execute(text(stmt))


def set_scope_key(conn: Connection, key: bytes) -> None:
    """Store the key the app signs its settings with (as the owner: the web role cannot)."""
    if conn.dialect.name != "postgresql":
        return
    if len(key) > 64:
        raise ValueError("an HMAC-SHA256 key of at most 64 bytes")
    block = key.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in block)
    opad = bytes(b ^ 0x5C for b in block)
    conn.execute(text(
        f"INSERT INTO {PRIVATE}.scope_key (id, ipad, opad) VALUES (1, :i, :o) "
        "ON CONFLICT (id) DO UPDATE SET ipad = excluded.ipad, opad = excluded.opad"),
        {"i": ipad, "o": opad})


# ------------------------------------------------------------ platform tables (0017)
# accounts, access_tokens, devices, email_verifications: no customer_id, so a policy of
# their own. A person's rows are visible (and writable) in their own signed account scope and
# in the signed system scope; a customer's signed scope also reads the accounts of its
# members and of people with entries there (names beside ids in admin lists, the ledger,
# the on-site list, member e-mails for notices), never
# their tokens, devices or codes. Statements that must find a row before any scope exists go
# through SECURITY DEFINER functions (the token sign-in, ``entryfy_sign_in``) or the app's
# named system path (e-mail lookups at sign-in, registration, verification: models.tenancy
# .system_scope). ENABLE without FORCE: the tables' owner, who runs the migrations and owns
# the SECURITY DEFINER functions, is not restricted; the web role owns nothing (it must not).
PLATFORM_TABLES = ("accounts", "access_tokens", "devices", "email_verifications")

_OWN_ROW = f"{VALID} AND ({_SYSTEM} OR account_id = {_ACCOUNT})"
_SCOPE_IDS = ("ANY (string_to_array(nullif(current_setting('entryfy.customer_ids', true), ''), "
              "',')::uuid[])")
# Members, and people with an entry at the customer (a guest or a former member on its
# ledger or on-site list). Both by index (memberships by account, ix_entries_account_in).
_MEMBER_OF_SCOPE = (
    f"EXISTS (SELECT 1 FROM memberships m WHERE m.account_id = accounts.id "
    f"AND m.customer_id = {_SCOPE_IDS}) OR "
    f"EXISTS (SELECT 1 FROM entries e WHERE e.account_id = accounts.id "
    f"AND e.customer_id = {_SCOPE_IDS})"
)

PLATFORM_RLS = [
    "DROP POLICY IF EXISTS account_visible ON accounts",
    # The cheap tests first: an OR is evaluated left to right, so the person's own row (the
    # check-in's identity flag) never runs the membership subquery.
    f"CREATE POLICY account_visible ON accounts USING ({VALID} AND ({_SYSTEM} OR "
    f"id = {_ACCOUNT} OR {_MEMBER_OF_SCOPE})) "
    f"WITH CHECK ({VALID} AND ({_SYSTEM} OR id = {_ACCOUNT}))",
    "ALTER TABLE accounts ENABLE ROW LEVEL SECURITY",
    *[stmt for table in PLATFORM_TABLES[1:] for stmt in (
        f"DROP POLICY IF EXISTS own_rows ON {table}",
        f"CREATE POLICY own_rows ON {table} USING ({_OWN_ROW}) WITH CHECK ({_OWN_ROW})",
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
    )],
    # The token sign-in: the token's row and, for a live one, the person's context signed by
    # the database, in one call (the app cannot see the token row before it has a context).
    f"""CREATE OR REPLACE FUNCTION public.entryfy_sign_in(token_hash text, kind text,
    at timestamptz)
RETURNS TABLE (id uuid, account_id uuid, last_used_at timestamptz, live boolean,
               context_set text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
#variable_conflict use_column
DECLARE
  r record;
  acct text := '';
  ts text := pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()))::bigint::text;
BEGIN
  SELECT t.id AS tid, t.account_id AS aid, t.last_used_at AS lu,
         coalesce(t.kind = $2 AND t.revoked_at IS NULL AND t.expires_at > $3
                  AND a.is_active, false) AS ok
    INTO r
    FROM public.access_tokens t JOIN public.accounts a ON a.id = t.account_id
   WHERE t.token_hash = $1;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF r.ok THEN
    acct := r.aid::text;
  END IF;
  id := r.tid;
  account_id := r.aid;
  last_used_at := r.lu;
  live := r.ok;
  context_set := pg_catalog.concat(
    pg_catalog.set_config('entryfy.customer_ids', '', true),
    pg_catalog.set_config('entryfy.account_id', acct, true),
    pg_catalog.set_config('entryfy.scope', '', true),
    pg_catalog.set_config('entryfy.signed_at', ts, true),
    pg_catalog.set_config('entryfy.sig', {PRIVATE}.sign('|' || acct || '||' || ts), true));
  RETURN NEXT;
END
$$""",
]

UNPLATFORM_RLS = [
    "DROP FUNCTION IF EXISTS public.entryfy_sign_in(text, text, timestamptz)",
    "DROP POLICY IF EXISTS account_visible ON accounts",
    "ALTER TABLE accounts DISABLE ROW LEVEL SECURITY",
    *[stmt for table in PLATFORM_TABLES[1:] for stmt in (
        f"DROP POLICY IF EXISTS own_rows ON {table}",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    )],
]


def install_platform_rls(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for stmt in PLATFORM_RLS:
        conn.execute(text(stmt))


def uninstall_platform_rls(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for stmt in UNPLATFORM_RLS:
        conn.execute(text(stmt))
