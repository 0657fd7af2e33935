"""Customer search on SQLite and PostgreSQL: what matches, in which order, and that user input is
only ever text to look for."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from billing_desk.domain.errors import InvalidInput
from billing_desk.services.search import (
    MAX_LIMIT,
    CustomerHit,
    Match,
    search_customers,
)
from billing_desk.store.engine import create_store_engine
from billing_desk.store.migrate import MIGRATIONS_DIR, upgrade
from billing_desk.store.models import Customer
from billing_desk.store.uow import UnitOfWork
from tests.conftest import BACKENDS, PG_ENV

NOW = datetime(2026, 1, 1, tzinfo=UTC)

PEOPLE = [
    ("c0000001", "Sarah Smith", "sarah.smith123@example.com", "cus_Q1w2E3r4T5"),
    ("c0000002", "John Smithson", "john.smithson7@mail.example.org", None),
    ("c0000003", "Smith Sarah", "ss@corp.example.net", "cus_Zz9Yy8Xx7"),
    ("c0000004", "Sam Jones", "sam.jones@example.io", None),
    ("c0000005", "Mary O'Brien-Jones", "mary.obj@shop.example", "cus_Mm1Nn2Oo3"),
    ("c0000010", "Peter Parker", "peter.parker@example.com", None),
]


def add_customers(engine: Engine, rows: Iterable[tuple[str, str, str, str | None]]) -> None:
    with UnitOfWork(engine, write=True) as uow:
        for customer_id, name, email, stripe_id in rows:
            uow.session.add(
                Customer(
                    id=customer_id,
                    name=name,
                    email=email,
                    currency="usd",
                    stripe_customer_id=stripe_id,
                    balance=0,
                    flags={},
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        uow.commit()


def search(engine: Engine, query: str, limit: int = 20) -> list[CustomerHit]:
    with UnitOfWork(engine) as uow:
        return search_customers(uow, query, limit)


def ids(engine: Engine, query: str, limit: int = 20) -> list[str]:
    return [hit.id for hit in search(engine, query, limit)]


def matches(engine: Engine, query: str) -> list[tuple[str, Match]]:
    return [(hit.id, hit.match) for hit in search(engine, query)]


@pytest.fixture(scope="module", params=BACKENDS)
def people(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One store per backend holding PEOPLE, shared by the tests that only read it (a fresh
    migrated PostgreSQL schema per test costs seconds)."""
    if request.param == "sqlite":
        engine = create_store_engine(f"sqlite:///{tmp_path_factory.mktemp('people')}/s.sqlite3")
        drop = None
    else:
        server = os.environ.get(PG_ENV)
        if not server:
            pytest.skip(f"PostgreSQL tests need {PG_ENV}")
        name = f"billing_desk_search_{uuid.uuid4().hex[:8]}"
        admin = create_store_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine = create_store_engine(
            make_url(server).set(database=name).render_as_string(hide_password=False)
        )
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    try:
        upgrade(engine)
        add_customers(engine, PEOPLE)
        yield engine
    finally:
        engine.dispose()
        if drop:
            with admin.connect() as conn:
                conn.exec_driver_sql(drop)
            admin.dispose()


def test_customer_id_exact_hit_comes_first_then_id_prefixes(engine: Engine) -> None:
    add_customers(
        engine,
        [
            ("c0000012", "Zed Last", "z@x.io", None),
            ("c00000120", "Abe First", "a@x.io", None),
            ("c00000121", "Bea Second", "b@x.io", None),
            ("c0000013", "Ann Other", "o@x.io", None),
        ],
    )
    assert matches(engine, "c0000012") == [
        ("c0000012", Match.ID),
        ("c00000120", Match.ID_PREFIX),
        ("c00000121", Match.ID_PREFIX),
    ]
    assert matches(engine, "C0000012")[0] == ("c0000012", Match.ID)


def test_exact_email_ignores_case(people: Engine) -> None:
    assert matches(people, "Sarah.Smith123@EXAMPLE.com") == [("c0000001", Match.EMAIL)]


def test_stripe_id_exact_and_prefix(people: Engine) -> None:
    assert matches(people, "cus_Zz9Yy8Xx7") == [("c0000003", Match.STRIPE_ID)]
    assert matches(people, "CUS_zz9yy8xx7") == [("c0000003", Match.STRIPE_ID)]
    assert matches(people, "cus_Zz9") == [("c0000003", Match.STRIPE_ID_PREFIX)]
    assert [hit.id for hit in search(people, "cus_")] == ["c0000005", "c0000001", "c0000003"]


def test_partial_email_matches_its_beginning_or_its_domain(people: Engine) -> None:
    assert matches(people, "sarah.smi") == [
        ("c0000001", Match.EMAIL_PREFIX),
        ("c0000003", Match.NAME_WORDS),  # "sarah" and "smi" also start words of her name
    ]
    assert matches(people, "example.io") == [("c0000004", Match.EMAIL_DOMAIN_PREFIX)]
    assert matches(people, "@EXAMPLE.COM") == [
        ("c0000010", Match.EMAIL_DOMAIN_PREFIX),
        ("c0000001", Match.EMAIL_DOMAIN_PREFIX),
    ]
    assert ids(people, "exam") == ["c0000010", "c0000004", "c0000001"]
    assert ids(people, "@mail.ex") == ["c0000002"]


def test_name_words_are_prefixes_in_any_order_and_all_must_match(people: Engine) -> None:
    assert ids(people, "sarah smi") == ["c0000001", "c0000003"]
    assert ids(people, "smi sar") == ["c0000001", "c0000003"]
    assert ids(people, "jo sm") == ["c0000002"]
    assert ids(people, "sarah jones") == []
    assert ids(people, "jones") == ["c0000005", "c0000004"]


def test_ranking_exact_then_prefixes_then_words_of_the_name(engine: Engine) -> None:
    add_customers(
        engine,
        [
            ("smith", "Zoe Exact", "zoe@exact.io", None),
            ("c1", "Adam Smith", "adam@x.io", None),
            ("c2", "Smith Adams", "adams@x.io", None),
            ("c3", "Jo Bloggs", "smith.j@x.io", None),
            ("c4", "Zed Domain", "zed@smithco.io", None),
            ("c5", "Bob Forge", "blacksmith@forge.io", None),
        ],
    )
    assert matches(engine, "Smith") == [
        ("smith", Match.ID),
        ("c3", Match.EMAIL_PREFIX),
        ("c2", Match.NAME_PREFIX),
        ("c4", Match.EMAIL_DOMAIN_PREFIX),
        ("c1", Match.NAME_WORDS),
    ]
    assert [hit.match.tier for hit in search(engine, "Smith")] == [0, 1, 1, 1, 2]


def test_a_customer_is_listed_once_under_its_best_match(people: Engine) -> None:
    # Sarah Smith's name starts with "sarah" and so does her email: one hit, the name prefix.
    hits = search(people, "sarah")
    assert [(hit.id, hit.match) for hit in hits] == [
        ("c0000001", Match.NAME_PREFIX),
        ("c0000003", Match.NAME_WORDS),
    ]


def test_ties_break_by_name_then_id(engine: Engine) -> None:
    add_customers(
        engine,
        [
            ("c9", "Lee Brown", "l9@x.io", None),
            ("c3", "lee brown", "l3@x.io", None),
            ("c7", "Lee Adams", "l7@x.io", None),
            ("c1", "Lee Carter", "l1@x.io", None),
            ("c5", "Lee Brown", "l5@x.io", None),
        ],
    )
    assert ids(engine, "lee") == ["c7", "c3", "c5", "c9", "c1"]
    assert ids(engine, "brown") == ["c3", "c5", "c9"]


def test_case_punctuation_and_whitespace_are_tolerated(people: Engine) -> None:
    queries = [
        "  SARAH   smith ",
        "smith, sarah",
        "sarah.smith",
        "(sarah) [smith]",
        "SARAH\tSMITH\n",
    ]
    for query in queries:
        assert {"c0000001", "c0000003"} <= set(ids(people, query)), query


def test_a_query_of_only_punctuation_finds_nothing(people: Engine) -> None:
    for query in ["", "   ", "!!!", '"', "'", "*", "-", "()", '"*"', "—", "\x00", "%", "_", "^"]:
        assert search(people, query) == [], query


SEARCH_SYNTAX = [
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "NEAR(sarah smith)",
    "sarah OR smith",
    "sarah AND",
    "NOT sarah",
    '"sarah',
    'sarah"',
    'sa"rah',
    "sarah*",
    "*sarah",
    "-sarah",
    "sarah -smith",
    "(sarah",
    "sarah)",
    "name:sarah",
    "{name}:sarah",
    "^sarah",
    "+sarah",
    "sarah^2",
    "sa%",
    "s_rah",
    "'; DROP TABLE customers; --",
    "\\x27 OR 1=1",
]


def test_search_syntax_in_the_query_is_plain_text(people: Engine) -> None:
    for query in SEARCH_SYNTAX:
        search(people, query)  # never an FTS5 or SQL error
    assert ids(people, "c0000001") == ["c0000001"]


def test_operator_words_are_searched_as_words(engine: Engine) -> None:
    add_customers(
        engine,
        [
            ("c1", "Andy Orwell", "a1@x.io", None),
            ("c2", "Nora Near", "n2@x.io", None),
            ("c3", "Notley Andrews", "n3@x.io", None),
        ],
    )
    assert ids(engine, "AND") == ["c1", "c3"]
    assert ids(engine, "or") == ["c1"]
    assert ids(engine, "NEAR") == ["c2"]
    assert ids(engine, "NOT and") == ["c3"]
    assert ids(engine, "orwell OR") == ["c1"]
    assert ids(engine, '"andy" "orw') == ["c1"]
    assert ids(engine, "sa%") == []
    assert ids(engine, "n_ra") == []


def test_wildcard_characters_are_literal(engine: Engine) -> None:
    add_customers(
        engine,
        [
            ("c1", "Under Score", "first_last@x.io", None),
            ("c2", "No Score", "firstXlast@x.io", None),
            ("c3", "Per Cent", "100%off@x.io", None),
            ("c4", "Per Mille", "100Xoff@x.io", None),
        ],
    )
    assert ids(engine, "first_l") == ["c1"]
    assert ids(engine, "100%o") == ["c3"]
    assert ids(engine, "first*") == []  # no customer's name, id or email starts "first*"
    assert ids(engine, "first") == ["c2", "c1"]


def test_unicode_names_fold_case_and_accents(engine: Engine) -> None:
    add_customers(
        engine,
        [
            ("c1", "Émile Zola", "ez@x.fr", None),
            ("c2", "José Núñez", "jn@x.es", None),
            ("c3", "Zoë Kravitz", "zk@x.io", None),
            ("c4", "山田 太郎", "yamada@x.jp", None),
            ("c5", "Łukasz Żak", "lz@x.pl", None),
            ("c6", "Jane Wide", "jw@x.io", None),
        ],
    )
    assert ids(engine, "emile") == ["c1"]
    assert ids(engine, "ÉMILE zo") == ["c1"]
    assert ids(engine, "jose nunez") == ["c2"]
    assert ids(engine, "NÚÑ") == ["c2"]
    assert ids(engine, "zoe") == ["c3"]
    assert ids(engine, "山田") == ["c4"]
    assert ids(engine, "太") == ["c4"]
    assert ids(engine, "łukasz") == ["c5"]
    assert ids(engine, "Ｊａｎｅ") == ["c6"]  # full-width letters typed


# The word table as migration 0002 derives it from the customers, to compare with what the
# trigger kept.
PG_WORDS_FROM_CUSTOMERS = r"""
SELECT DISTINCT w, c.id,
       ' ' || regexp_replace(billing_search_fold(c.name), '[^[:alnum:]]+', ' ', 'g') || ' '
  FROM customers c, regexp_split_to_table(billing_search_fold(c.name), '[^[:alnum:]]+') AS w
 WHERE w <> ''
"""


def assert_index_matches_customers(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # rank 1: FTS5 compares its index with the content table ("malformed" if not).
            conn.exec_driver_sql(
                "INSERT INTO customer_search_names (customer_search_names, rank) "
                "VALUES ('integrity-check', 1)"
            )
        else:
            actual = "SELECT word, customer_id, name_key FROM customer_search_words"
            for left, right in (
                (PG_WORDS_FROM_CUSTOMERS, actual),
                (actual, PG_WORDS_FROM_CUSTOMERS),
            ):
                difference = conn.exec_driver_sql(f"{left} EXCEPT {right}").all()
                assert difference == []


def test_customers_stored_before_the_search_migration_are_found(db_url: str) -> None:
    engine = create_store_engine(db_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            conn.execute(
                text(
                    "INSERT INTO customers (id, name, email, currency, stripe_customer_id, "
                    "balance, flags, created_at, updated_at) VALUES ('c1', 'Émile Zola', "
                    "'ez@x.fr', 'eur', 'cus_E1', 0, '{}', :at, :at)"
                ),
                {"at": "2026-01-01T00:00:00.000000Z" if engine.dialect.name == "sqlite" else NOW},
            )
        upgrade(engine)
        for query in ("c1", "ez@x.fr", "cus_e1", "emile z", "zola", "x.fr"):
            assert ids(engine, query) == ["c1"], query
        assert_index_matches_customers(engine)
    finally:
        engine.dispose()


def test_updates_and_deletes_are_reflected(engine: Engine) -> None:
    add_customers(engine, PEOPLE)
    people = engine
    with UnitOfWork(people, write=True) as uow:
        uow.session.execute(
            update(Customer)
            .where(Customer.id == "c0000010")
            .values(name="Peter Quill", email="starlord@guardians.example")
        )
        uow.session.execute(delete(Customer).where(Customer.id == "c0000004"))
        uow.session.execute(update(Customer).where(Customer.id == "c0000001").values(balance=-500))
        uow.commit()
    assert ids(people, "parker") == []
    assert ids(people, "peter.parker") == []
    assert ids(people, "quill") == ["c0000010"]
    assert ids(people, "starlord@guardians.example") == ["c0000010"]
    assert ids(people, "guardians") == ["c0000010"]
    assert ids(people, "sam") == []
    assert ids(people, "c0000004") == []
    assert ids(people, "jones") == ["c0000005"]
    assert ids(people, "sarah smith") == ["c0000001", "c0000003"]
    assert_index_matches_customers(people)


def test_upserts_are_reflected(engine: Engine) -> None:
    add_customers(engine, PEOPLE)
    people = engine
    dialect = postgresql if people.dialect.name == "postgresql" else sqlite
    values = {
        "id": "c0000002",
        "name": "Joan Smythe",
        "email": "joan@smythe.example",
        "currency": "usd",
        "balance": 0,
        "flags": {},
        "created_at": NOW,
        "updated_at": NOW,
    }
    statement = dialect.insert(Customer).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[Customer.id],
        set_={"name": statement.excluded.name, "email": statement.excluded.email},
    )
    with UnitOfWork(people, write=True) as uow:
        uow.session.execute(statement)
        uow.commit()
    assert ids(people, "smithson") == []
    assert ids(people, "joan smy") == ["c0000002"]
    assert ids(people, "john.smithson7@mail.example.org") == []
    assert_index_matches_customers(people)


def test_limit_is_honoured(engine: Engine) -> None:
    add_customers(engine, [(f"c{i:03d}", f"Kim Lee{i:03d}", f"k{i}@x.io", None) for i in range(30)])
    assert len(search(engine, "kim", 5)) == 5
    assert ids(engine, "kim", 3) == ["c000", "c001", "c002"]
    assert len(search(engine, "kim")) == 20
    assert len(search(engine, "kim", MAX_LIMIT)) == 30


def test_limit_out_of_range_is_refused(people: Engine) -> None:
    for limit in (0, -1, MAX_LIMIT + 1):
        with pytest.raises(InvalidInput, match="limit must be between 1 and"):
            search(people, "sarah", limit)


def test_hits_give_the_contract_fields(people: Engine) -> None:
    (hit,) = search(people, "c0000005")
    assert hit.to_json() == {
        "id": "c0000005",
        "name": "Mary O'Brien-Jones",
        "email": "mary.obj@shop.example",
        "stripe_customer_id": "cus_Mm1Nn2Oo3",
    }
    (plain,) = search(people, "c0000004")
    assert plain.to_json()["stripe_customer_id"] is None


def _name_words(name: str) -> list[str]:
    return re.findall(r"[^\W_]+", name.lower())


def reason_holds(hit: CustomerHit, query: str) -> bool:
    """Whether `hit` matches `query` the way its `match` says (ASCII data: Python's lower() is
    the databases')."""
    text = " ".join(query.split()).lower()
    domain = hit.email.lower().partition("@")[2]
    stripe_id = (hit.stripe_customer_id or "").lower()
    return {
        Match.ID: hit.id.lower() == text,
        Match.EMAIL: hit.email.lower() == text,
        Match.STRIPE_ID: stripe_id == text,
        Match.NAME_PREFIX: hit.name.lower().startswith(text),
        Match.ID_PREFIX: hit.id.lower().startswith(text),
        Match.EMAIL_PREFIX: hit.email.lower().startswith(text),
        Match.EMAIL_DOMAIN_PREFIX: domain.startswith(text.lstrip("@")),
        Match.STRIPE_ID_PREFIX: bool(stripe_id) and stripe_id.startswith(text),
        Match.NAME_WORDS: all(
            any(word.startswith(part) for word in _name_words(hit.name))
            for part in _name_words(query)
        ),
    }[hit.match]


VOCABULARY = sorted({word for _, name, email, _ in PEOPLE for word in _name_words(name + email)})
PREFIXES = st.sampled_from(VOCABULARY).flatmap(
    lambda word: st.integers(1, len(word)).map(lambda n: word[:n])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(PREFIXES, min_size=1, max_size=3), st.sampled_from([" ", ", ", ".", "  -"]))
def test_hits_are_exactly_the_customers_that_match(
    people: Engine, prefixes: list[str], separator: str
) -> None:
    query = separator.join(prefixes)
    hits = search(people, query)
    assert all(reason_holds(hit, query) for hit in hits), query
    by_words = {
        customer_id
        for customer_id, name, _, _ in PEOPLE
        if all(any(word.startswith(p) for word in _name_words(name)) for p in prefixes)
    }
    assert by_words <= {hit.id for hit in hits}, query


QUERY_PIECES = st.sampled_from(
    [*"\"*^-+():{}[]%_\\'`~@.,;|&!?<>=#$ \t", "AND", "OR", "NOT", "NEAR", "sa", "cus_", "c00"]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(QUERY_PIECES | st.characters(), max_size=12).map("".join))
def test_any_query_is_searched_as_plain_text(people: Engine, query: str) -> None:
    try:
        hits = search(people, query, 5)
    except InvalidInput as exc:
        assert "words" in str(exc)  # noqa: PT017 - only the word limit refuses a short query
        return
    assert len(hits) <= 5
    assert len({hit.id for hit in hits}) == len(hits)
