"""Search index over customers (FTS5 on SQLite, a word table on PostgreSQL).

Both backends get case-insensitive B-tree indexes, each ending in the id so ties have an order,
on the id, the email, the email's domain (what follows the first "@"), the Stripe id and the
name: they serve exact lookups and "starts with the query" as ordered range scans that stop at
the LIMIT. Words of the name differ:

- SQLite: `customer_search_names`, an external-content FTS5 table over `customers` kept current
  by triggers (unicode61 with diacritics folded, prefix indexes for 1-3 characters). It is keyed
  by the customers rowid: a batch migration that copies `customers` must recreate the triggers
  and run the FTS5 'rebuild' command.
- PostgreSQL: `customer_search_words`, one row per (word of the folded name, customer), kept by
  a trigger. Its B-tree answers a word prefix with a range scan in index order that stops at the
  LIMIT however common the prefix (a GIN index over tsvector or pg_trgm first collects every
  match into a bitmap), and each entry carries the whole folded name, so the query's other words
  are checked on the entry itself. Folding is lower(unaccent(...)) so "jose" finds "José", as
  FTS5's remove_diacritics does on SQLite.

No trigram index for substrings of emails: pg_trgm ignores punctuation, so "@example.org" also
fetches every "@mail.example.org" address before the recheck, and neither of its index types
stops early on a common one (a domain held by a fifth of 1M customers costs 0.4-2 s). The
email's prefix and its domain's prefix answer "part of an email" on both backends alike.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The domain is what follows the first "@" (the whole address if there is none), written the
# same way on both backends so they index the same text.
SQLITE_DOMAIN = "lower(substr(email, instr(email, '@') + 1))"
PG_DOMAIN = "(lower(substr(email, strpos(email, '@') + 1)) COLLATE \"C\")"

SQLITE_UPGRADE = (
    "CREATE INDEX ix_customers_search_id ON customers (lower(id), id)",
    "CREATE INDEX ix_customers_search_email ON customers (lower(email), id)",
    f"CREATE INDEX ix_customers_search_email_domain ON customers ({SQLITE_DOMAIN}, id)",
    "CREATE INDEX ix_customers_search_stripe_id ON customers (lower(stripe_customer_id), id)",
    "CREATE INDEX ix_customers_search_name ON customers (lower(name), id)",
    # columnsize=0: no per-row size table; nothing here ranks by bm25.
    """CREATE VIRTUAL TABLE customer_search_names USING fts5(
        name, content='customers', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2', prefix='1 2 3', columnsize=0)""",
    """CREATE TRIGGER customers_search_insert AFTER INSERT ON customers BEGIN
        INSERT INTO customer_search_names (rowid, name) VALUES (new.rowid, new.name);
    END""",
    # External content: FTS5 removes an entry by being told the values it indexed.
    """CREATE TRIGGER customers_search_delete AFTER DELETE ON customers BEGIN
        INSERT INTO customer_search_names (customer_search_names, rowid, name)
            VALUES ('delete', old.rowid, old.name);
    END""",
    """CREATE TRIGGER customers_search_update AFTER UPDATE OF name ON customers
    WHEN old.name IS NOT new.name BEGIN
        INSERT INTO customer_search_names (customer_search_names, rowid, name)
            VALUES ('delete', old.rowid, old.name);
        INSERT INTO customer_search_names (rowid, name) VALUES (new.rowid, new.name);
    END""",
    "INSERT INTO customer_search_names (customer_search_names) VALUES ('rebuild')",
)

SQLITE_DOWNGRADE = (
    "DROP TRIGGER customers_search_update",
    "DROP TRIGGER customers_search_delete",
    "DROP TRIGGER customers_search_insert",
    "DROP TABLE customer_search_names",
    "DROP INDEX ix_customers_search_name",
    "DROP INDEX ix_customers_search_stripe_id",
    "DROP INDEX ix_customers_search_email_domain",
    "DROP INDEX ix_customers_search_email",
    "DROP INDEX ix_customers_search_id",
)

# unaccent may already live in a schema other than the current one: look it up and qualify,
# so the fold function never depends on a caller's search_path.
PG_FOLD_FUNCTION = """
DO $$
DECLARE s text;
BEGIN
  SELECT n.nspname INTO s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'unaccent';
  EXECUTE format(
    'CREATE FUNCTION billing_search_fold(text) RETURNS text '
    'LANGUAGE sql STABLE STRICT PARALLEL SAFE AS %L',
    format('SELECT lower(%I.unaccent(%L::regdictionary, $1))', s, quote_ident(s) || '.unaccent'));
END $$
"""

# A word is a run of letters and digits of the folded name; `name_key` is that name with its
# words separated by single spaces and padded, so "has a word starting with t" is
# strpos(name_key, ' ' || t) > 0.
PG_WORDS_SYNC = r"""
CREATE FUNCTION billing_search_words_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE folded text;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    DELETE FROM customer_search_words WHERE customer_id = NEW.id;
  END IF;
  folded := billing_search_fold(NEW.name);
  INSERT INTO customer_search_words (word, customer_id, name_key)
  SELECT DISTINCT w, NEW.id, ' ' || regexp_replace(folded, '[^[:alnum:]]+', ' ', 'g') || ' '
    FROM regexp_split_to_table(folded, '[^[:alnum:]]+') AS w
   WHERE w <> '';
  RETURN NULL;
END $$
"""

PG_UPGRADE = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    PG_FOLD_FUNCTION,
    'CREATE INDEX ix_customers_search_id ON customers ((lower(id) COLLATE "C"), id)',
    'CREATE INDEX ix_customers_search_email ON customers ((lower(email) COLLATE "C"), id)',
    f"CREATE INDEX ix_customers_search_email_domain ON customers ({PG_DOMAIN}, id)",
    (
        "CREATE INDEX ix_customers_search_stripe_id ON customers "
        '((lower(stripe_customer_id) COLLATE "C"), id)'
    ),
    'CREATE INDEX ix_customers_search_name ON customers ((lower(name) COLLATE "C"), id)',
    """CREATE TABLE customer_search_words (
        word text COLLATE "C" NOT NULL,
        customer_id varchar(255) NOT NULL
            CONSTRAINT fk_customer_search_words_customer_id_customers
            REFERENCES customers (id) ON DELETE CASCADE ON UPDATE CASCADE,
        name_key text NOT NULL,
        CONSTRAINT pk_customer_search_words PRIMARY KEY (word, customer_id) INCLUDE (name_key)
    )""",
    "CREATE INDEX ix_customer_search_words_customer_id ON customer_search_words (customer_id)",
    PG_WORDS_SYNC,
    """CREATE TRIGGER customers_search_words AFTER INSERT OR UPDATE OF name ON customers
       FOR EACH ROW EXECUTE FUNCTION billing_search_words_sync()""",
    # Rows that predate this revision.
    r"""INSERT INTO customer_search_words (word, customer_id, name_key)
        SELECT DISTINCT w, c.id,
               ' ' || regexp_replace(billing_search_fold(c.name), '[^[:alnum:]]+', ' ', 'g') || ' '
          FROM customers c,
               regexp_split_to_table(billing_search_fold(c.name), '[^[:alnum:]]+') AS w
         WHERE w <> ''""",
)

# unaccent stays: other objects of the database may use it.
PG_DOWNGRADE = (
    "DROP TRIGGER customers_search_words ON customers",
    "DROP FUNCTION billing_search_words_sync()",
    "DROP TABLE customer_search_words",
    "DROP INDEX ix_customers_search_name",
    "DROP INDEX ix_customers_search_stripe_id",
    "DROP INDEX ix_customers_search_email_domain",
    "DROP INDEX ix_customers_search_email",
    "DROP INDEX ix_customers_search_id",
    "DROP FUNCTION billing_search_fold(text)",
)


def _run(statements: tuple[str, ...]) -> None:
    # Straight to the driver without parameters: text() would read "[:alnum:]" as a bind
    # parameter and psycopg would read format()'s "%L" as a placeholder.
    cursor = op.get_bind().connection.cursor()
    try:
        for statement in statements:
            cursor.execute(statement)
    finally:
        cursor.close()


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _run(PG_UPGRADE)
    else:
        _run(SQLITE_UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _run(PG_DOWNGRADE)
    else:
        _run(SQLITE_DOWNGRADE)
