"""entryfy_on_site(customer, site): who is on a site now, names included, in one call
(PostgreSQL only)

The on-site list joins each open entry to its person's account. Under the accounts policy
(0017) every joined row ran the policy's membership subquery: at 10,000 people on site that
was most of the list's time (bench/onsite.py). This SECURITY DEFINER function answers the
same rows with the wall checked once per call, not once per row:

* the signed scope must be valid and name the customer (or be the system scope), the same
  condition every tenant policy holds (models/rls.py); otherwise no rows;
* the entries are the customer's own open entries at the site, by the partial index
  uq_entries_open (entries keep FORCE ROW LEVEL SECURITY, so their policy applies here too
  unless the owner is a superuser, hence the explicit check above);
* the accounts read are only those of these entries, which the accounts policy itself lets
  the customer's scope read ("people with an entry at the customer", models/rls.py): the
  function shows nothing the policy would hide.

plpgsql with RETURN QUERY: its plan is cached for the session (a SQL function that cannot be
inlined is planned again at every call). Names outside pg_catalog are schema-qualified, as
in the other SECURITY DEFINER functions.

Revision ID: 0018
Revises: 0017
"""
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

FUNCTION = """CREATE OR REPLACE FUNCTION public.entryfy_on_site(customer uuid, site uuid)
RETURNS TABLE (entry_id uuid, account_id uuid, first_name text, last_name text,
               employer_name text, employer_org_nr text, checked_in_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
  -- IS NOT TRUE: with no customer in the scope the ANY is null, and null must refuse.
  IF (public.entryfy_scope_valid() AND (
      pg_catalog.current_setting('entryfy.scope', true) = 'system'
      OR customer = ANY (pg_catalog.string_to_array(NULLIF(
        pg_catalog.current_setting('entryfy.customer_ids', true), ''), ',')::uuid[])))
      IS NOT TRUE THEN
    RETURN;
  END IF;
  RETURN QUERY
    SELECT e.id, e.account_id, a.first_name::text, a.last_name::text,
           e.employer_name::text, e.employer_org_nr::text, e.checked_in_at
      FROM public.entries e JOIN public.accounts a ON a.id = e.account_id
     WHERE e.customer_id = customer AND e.site_id = site
       AND e.checked_out_at IS NULL AND e.account_id IS NOT NULL;
END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    # Callable by the web role (PUBLIC has EXECUTE on new functions by default; explicit
    # here so a hardened default does not silently break the list).
    op.execute("GRANT EXECUTE ON FUNCTION public.entryfy_on_site(uuid, uuid) TO PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS public.entryfy_on_site(uuid, uuid)")
