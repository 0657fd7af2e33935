"""PostgreSQL's own enforcement of four-eyes, installed by migration 0004.

- Group roles `billing_agent` < `billing_lead` < `billing_admin` (each a member of the one before,
  so a lead can do what an agent can) and `billing_sync`, created idempotently: roles are
  cluster-wide and many databases on one server migrate independently.
- Grants: the app roles may read everything and write the ledger, but on `corrections` only
  INSERT (a proposal, vetted by a trigger), on `approvals` nothing, on `audit_log` only INSERT
  (never UPDATE, DELETE or TRUNCATE), on `settings` and `staff` only through an admin.
- Every status change goes through SECURITY DEFINER functions that check who is asking:
  `billing_decide` (approve/reject: a lead or admin, never the requester) and
  `billing_transition` (apply, lapse, fail, revert: each with its own precondition).
- Triggers keep the audit trail append-only (for every role, owner included) and extending the
  chain head, a correction's content immutable, and holds tied to applied hold/release
  corrections.

A non-superuser session is always the identity it logged in as (`session_user`). A superuser
session is the DBA: an admin when it acts as itself; when it names someone else (the test suite
acting for several people) the checks run for that person with the role the `staff` register
gives them, but nothing stops a superuser, so the guarantees are for ordinary logins.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from billing_desk.domain.corrections import Refused
from billing_desk.domain.currencies import CURRENCIES, THREE_DECIMAL, ZERO_DECIMAL
from billing_desk.domain.errors import InvalidInput, PermissionDenied
from billing_desk.domain.settings import DEFAULT_LIMITS

APP_ROLES = "billing_agent, billing_sync"

# The columns that make up what was proposed (and approved): never updated.
CORRECTION_CONTENT = (
    "customer_id",
    "period",
    "kind",
    "line_id",
    "reverts_id",
    "target_key",
    "amount",
    "quantity",
    "description",
    "reason",
    "note",
    "currency",
    "invoice_status",
    "line_version",
    "impact",
    "total_before",
    "total_after",
    "requested_by",
    "requested_at",
)

# The SQLSTATEs these functions and triggers raise, as the errors the app shows.
_ERRORS: dict[str, type[Exception]] = {
    "42501": PermissionDenied,  # insufficient_privilege: the database refused this login
    "40001": Refused,  # serialization_failure: the correction moved on (someone decided first)
    "P0002": InvalidInput,  # no_data_found
    "22023": InvalidInput,  # invalid_parameter_value
}

_ROLES_SQL = """
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['billing_agent', 'billing_lead', 'billing_admin', 'billing_sync'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another database's migration created it at the same moment
      END;
    END IF;
  END LOOP;
  IF NOT pg_has_role('billing_lead', 'billing_agent', 'MEMBER') THEN
    BEGIN
      GRANT billing_agent TO billing_lead;
    EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL;
    END;
  END IF;
  IF NOT pg_has_role('billing_admin', 'billing_lead', 'MEMBER') THEN
    BEGIN
      GRANT billing_lead TO billing_admin;
    EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL;
    END;
  END IF;
END $$
"""

_GRANTS_SQL = f"""
GRANT USAGE ON SCHEMA public TO {APP_ROLES};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLES};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLES};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLES};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLES};
REVOKE ALL ON corrections, approvals, holds, audit_log, staff, settings, alembic_version
  FROM PUBLIC, {APP_ROLES};
GRANT SELECT ON corrections, approvals, holds, audit_log, staff, settings, alembic_version
  TO {APP_ROLES};
GRANT INSERT ON corrections TO billing_agent;
GRANT INSERT ON audit_log TO {APP_ROLES};
GRANT INSERT, UPDATE (release_correction_id, released_by, released_at) ON holds TO {APP_ROLES};
GRANT INSERT, UPDATE ON settings TO billing_admin;
"""

_FUNCTIONS_SQL = r"""
CREATE FUNCTION billing_is_superuser() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = session_user), false)
$$;

-- The acting identity: the login itself, unless a superuser names someone.
CREATE FUNCTION billing_actor(p_actor text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT CASE WHEN billing_is_superuser() THEN p_actor ELSE session_user::text END
$$;

CREATE FUNCTION billing_role_of(p_login text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF billing_is_superuser() THEN
    -- The DBA is an admin; whoever it acts for has the role the staff register gives them.
    IF p_login = session_user THEN
      RETURN 'admin';
    END IF;
    RETURN (SELECT role FROM staff WHERE login = p_login);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login) THEN
    RETURN NULL;
  END IF;
  RETURN CASE
    WHEN pg_has_role(p_login, 'billing_admin', 'MEMBER') THEN 'admin'
    WHEN pg_has_role(p_login, 'billing_lead', 'MEMBER') THEN 'lead'
    WHEN pg_has_role(p_login, 'billing_agent', 'MEMBER') THEN 'agent'
  END;
END $$;

-- Stripe's currency rules, written from domain.currencies when this migration runs.
CREATE FUNCTION billing_exponent(p_currency text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN lower(p_currency) = ANY (:zero_decimal) THEN 0
              WHEN lower(p_currency) = ANY (:three_decimal) THEN 3
              ELSE 2 END
$$;

CREATE FUNCTION billing_step(p_currency text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE((:steps::jsonb ->> lower(p_currency))::integer, 1)
$$;

-- quantity x unit amount, half away from zero (PostgreSQL's numeric round), to a multiple of
-- the currency's step: the same rule as domain.money.line_amount.
CREATE FUNCTION billing_line_amount(p_quantity numeric, p_unit numeric, p_currency text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT (round(p_quantity * p_unit / billing_step(p_currency)) * billing_step(p_currency))::bigint
$$;

CREATE FUNCTION billing_limit_minor(p_role text, p_currency text) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  limits jsonb := COALESCE((SELECT value::jsonb FROM settings WHERE key = 'limits'),
                           :default_limits::jsonb);
  major text;
BEGIN
  major := COALESCE(limits -> p_role ->> lower(p_currency), limits -> p_role ->> '*');
  IF major IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN floor(major::numeric * 10 ^ billing_exponent(p_currency))::bigint;
END $$;

-- How much a correction moves the invoice, computed here from the lines, not taken from the app.
CREATE FUNCTION billing_magnitude(c corrections) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  l lines;
  o corrections;
BEGIN
  IF c.kind IN ('credit', 'one-off') THEN
    RETURN abs(c.amount);
  ELSIF c.kind = 'void' THEN
    SELECT * INTO l FROM lines WHERE id = c.line_id;
    RETURN abs(l.amount);
  ELSIF c.kind = 'adjust' THEN
    SELECT * INTO l FROM lines WHERE id = c.line_id;
    RETURN abs(COALESCE(c.amount, billing_line_amount(c.quantity, l.unit_amount, l.currency))
               - l.amount);
  ELSIF c.kind = 'undo' THEN
    SELECT * INTO o FROM corrections WHERE id = c.reverts_id;
    IF o.created_line_id IS NOT NULL THEN
      SELECT * INTO l FROM lines WHERE id = o.created_line_id;
      RETURN abs(l.amount);
    END IF;
    SELECT * INTO l FROM lines WHERE id = o.line_id;
    RETURN abs(o.line_amount_before + (l.compiled_amount - o.compiled_at_apply) - l.amount);
  END IF;
  RETURN 0;
END $$;

-- May `p_login` apply `c` without anyone's approval?
CREATE FUNCTION billing_within_authority(c corrections, p_login text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  r text := billing_role_of(p_login);
  cap bigint;
BEGIN
  IF r IS NULL THEN
    RETURN false;
  ELSIF c.kind = 'hold' THEN
    RETURN true;
  ELSIF c.kind = 'release' THEN
    RETURN r IN ('lead', 'admin') OR EXISTS (
      SELECT 1 FROM holds WHERE customer_id = c.customer_id AND period = c.period
        AND released_at IS NULL AND placed_by = p_login);
  ELSIF c.kind = 'void-invoice' THEN
    RETURN false;
  END IF;
  cap := billing_limit_minor(r, c.currency);
  RETURN cap IS NOT NULL AND billing_magnitude(c) <= cap;
END $$;

-- A proposal: written by the login itself, pending, or applied at once within its authority.
CREATE FUNCTION billing_vet_correction() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF billing_is_superuser() THEN
    RETURN NEW;
  END IF;
  NEW.requested_by := session_user;
  NEW.status_by := session_user;
  IF NEW.status = 'pending_approval' THEN
    NEW.applied_at := NULL;
    NEW.applied_by := NULL;
    RETURN NEW;
  ELSIF NEW.status = 'applied' THEN
    IF NOT billing_within_authority(NEW, session_user) THEN
      RAISE EXCEPTION 'correction of kind % by % needs a lead''s approval', NEW.kind, session_user
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.applied_by := session_user;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'a new correction is pending_approval or applied, not %', NEW.status
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER corrections_vet BEFORE INSERT ON corrections
  FOR EACH ROW EXECUTE FUNCTION billing_vet_correction();

CREATE FUNCTION billing_content_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (:old_content) IS DISTINCT FROM (:new_content) THEN
    RAISE EXCEPTION 'a correction''s content cannot change after proposal'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER corrections_content_immutable BEFORE UPDATE ON corrections
  FOR EACH ROW EXECUTE FUNCTION billing_content_immutable();

-- Approve or reject: a lead or admin who is not the requester, once.
CREATE FUNCTION billing_decide(p_id integer, p_decision text, p_binding text,
                               p_line_version integer, p_note text, p_actor text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  who text := billing_actor(p_actor);
  r text := billing_role_of(who);
  c corrections;
BEGIN
  IF r IS NULL OR r NOT IN ('lead', 'admin') THEN
    RAISE EXCEPTION 'only a lead or an admin decides on corrections (% is %)',
      who, COALESCE(r, 'not staff') USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO c FROM corrections WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no correction %', p_id USING ERRCODE = 'no_data_found';
  END IF;
  IF c.requested_by = who THEN
    RAISE EXCEPTION 'four-eyes: % requested correction % and cannot decide on it', who, p_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF c.status NOT IN ('pending_approval', 'lapsed') THEN
    RAISE EXCEPTION 'correction % is %, not awaiting a decision', p_id, c.status
      USING ERRCODE = 'serialization_failure';
  END IF;
  IF p_decision = 'approve' THEN
    INSERT INTO approvals (correction_id, approver, approved_at, binding_hash, line_version,
                           note, state)
    VALUES (p_id, who, now(), p_binding, p_line_version, p_note, 'active');
    UPDATE corrections SET status = 'approved', status_reason = p_note, status_at = now(),
                           status_by = who WHERE id = p_id;
    RETURN 'approved';
  ELSIF p_decision = 'reject' THEN
    UPDATE corrections SET status = 'rejected', status_reason = p_note, status_at = now(),
                           status_by = who WHERE id = p_id;
    RETURN 'rejected';
  END IF;
  RAISE EXCEPTION 'unknown decision %', p_decision USING ERRCODE = 'invalid_parameter_value';
END $$;

-- The other status changes, each with the precondition that makes it legitimate.
CREATE FUNCTION billing_transition(p_id integer, p_to text, p_reason text, p_actor text,
                                   p_effect jsonb)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  who text := billing_actor(p_actor);
  c corrections;
BEGIN
  IF billing_role_of(who) IS NULL AND NOT pg_has_role(session_user, 'billing_sync', 'MEMBER')
  THEN
    RAISE EXCEPTION '% is not staff', who USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO c FROM corrections WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no correction %', p_id USING ERRCODE = 'no_data_found';
  END IF;
  IF NOT (
       (c.status = 'approved' AND p_to IN ('applied', 'lapsed', 'failed'))
    OR (c.status = 'applied' AND p_to IN ('failed', 'reverted'))
  ) THEN
    RAISE EXCEPTION 'correction % is %: it cannot become %', p_id, c.status, p_to
      USING ERRCODE = 'serialization_failure';
  END IF;
  IF p_to = 'applied' AND NOT EXISTS (
       SELECT 1 FROM approvals WHERE correction_id = p_id AND state = 'active') THEN
    RAISE EXCEPTION 'correction % has no active approval', p_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_to = 'reverted' AND NOT EXISTS (
       SELECT 1 FROM corrections WHERE reverts_id = p_id AND kind = 'undo'
         AND status = 'applied') THEN
    RAISE EXCEPTION 'correction % is not undone by an applied undo', p_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_to = 'lapsed' THEN
    UPDATE approvals SET state = 'lapsed', lapsed_at = now(), lapse_reason = p_reason
      WHERE correction_id = p_id AND state = 'active';
  END IF;
  UPDATE corrections SET
    status = p_to, status_reason = p_reason, status_at = now(), status_by = who,
    applied_at = CASE WHEN p_to = 'applied' THEN now() ELSE applied_at END,
    applied_by = CASE WHEN p_to = 'applied' THEN who ELSE applied_by END,
    line_amount_before = COALESCE((p_effect ->> 'line_amount_before')::bigint,
                                  line_amount_before),
    line_amount_after = COALESCE((p_effect ->> 'line_amount_after')::bigint, line_amount_after),
    compiled_at_apply = COALESCE((p_effect ->> 'compiled_at_apply')::bigint, compiled_at_apply),
    created_line_id = COALESCE((p_effect ->> 'created_line_id')::integer, created_line_id)
  WHERE id = p_id;
  RETURN p_to;
END $$;

-- Holds follow applied hold and release corrections, and nothing else.
CREATE FUNCTION billing_vet_hold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF billing_is_superuser() THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' AND NOT EXISTS (
       SELECT 1 FROM corrections WHERE id = NEW.correction_id AND kind = 'hold'
         AND status = 'applied' AND customer_id = NEW.customer_id AND period = NEW.period
         AND requested_by = NEW.placed_by) THEN
    RAISE EXCEPTION 'a hold is placed by an applied hold correction'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'UPDATE' AND NOT EXISTS (
       SELECT 1 FROM corrections WHERE id = NEW.release_correction_id AND kind = 'release'
         AND status = 'applied' AND customer_id = NEW.customer_id AND period = NEW.period) THEN
    RAISE EXCEPTION 'a hold is released by an applied release correction'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER holds_vet BEFORE INSERT OR UPDATE ON holds
  FOR EACH ROW EXECUTE FUNCTION billing_vet_hold();

-- The audit trail: append-only for everyone, each row extending the chain head, written as
-- the login itself.
CREATE FUNCTION billing_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION billing_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION billing_audit_append_only();

CREATE FUNCTION billing_audit_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  head audit_log;
BEGIN
  IF NOT billing_is_superuser() AND NEW.actor <> session_user THEN
    RAISE EXCEPTION 'audit rows are written as the login itself (%), not %',
      session_user, NEW.actor USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO head FROM audit_log ORDER BY seq DESC LIMIT 1;
  IF NEW.seq <> COALESCE(head.seq, 0) + 1
     OR NEW.prev_hash <> COALESCE(head.hash, repeat('0', 64)) THEN
    RAISE EXCEPTION 'audit row does not extend the chain head'
      USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION billing_audit_chain();

-- Staff: an admin creates or grants a login (NOLOGIN -> LOGIN; no password is ever set here)
-- and records it in the staff register.
CREATE FUNCTION billing_staff_set(p_login text, p_role text, p_actor text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  who text := billing_actor(p_actor);
  grp text;
  g text;
BEGIN
  IF billing_role_of(who) IS DISTINCT FROM 'admin' THEN
    RAISE EXCEPTION 'only an admin changes staff (% is %)', who,
      COALESCE(billing_role_of(who), 'not staff') USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_login !~ '^[a-z_][a-z0-9_.-]{0,62}$' OR p_login LIKE 'pg\_%' OR p_login LIKE 'billing\_%'
  THEN
    RAISE EXCEPTION 'not a usable login name: %', p_login
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  grp := 'billing_' || p_role;
  IF p_role NOT IN ('agent', 'lead', 'admin') THEN
    RAISE EXCEPTION 'unknown role %', p_role USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login AND rolsuper) THEN
    RAISE EXCEPTION '% is a superuser; staff are ordinary logins', p_login
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login) THEN
    EXECUTE format('CREATE ROLE %I LOGIN', p_login);
  ELSE
    EXECUTE format('ALTER ROLE %I LOGIN', p_login);
  END IF;
  FOREACH g IN ARRAY ARRAY['billing_agent', 'billing_lead', 'billing_admin'] LOOP
    IF g <> grp THEN
      EXECUTE format('REVOKE %I FROM %I', g, p_login);
    END IF;
  END LOOP;
  EXECUTE format('GRANT %I TO %I', grp, p_login);
  INSERT INTO staff (login, role, added_by, added_at, updated_at)
  VALUES (p_login, p_role, who, now(), now())
  ON CONFLICT (login) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at;
  RETURN p_role;
END $$;
"""

_EXECUTE_SQL = f"""
REVOKE ALL ON FUNCTION billing_decide(integer, text, text, integer, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION billing_transition(integer, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION billing_staff_set(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION billing_decide(integer, text, text, integer, text, text)
  TO {APP_ROLES};
GRANT EXECUTE ON FUNCTION billing_transition(integer, text, text, text, jsonb) TO {APP_ROLES};
GRANT EXECUTE ON FUNCTION billing_staff_set(text, text, text) TO billing_admin;
"""

_FUNCTION_NAMES = (
    "billing_staff_set(text, text, text)",
    "billing_audit_chain()",
    "billing_audit_append_only()",
    "billing_vet_hold()",
    "billing_transition(integer, text, text, text, jsonb)",
    "billing_decide(integer, text, text, integer, text, text)",
    "billing_content_immutable()",
    "billing_vet_correction()",
    "billing_within_authority(corrections, text)",
    "billing_magnitude(corrections)",
    "billing_limit_minor(text, text)",
    "billing_line_amount(numeric, numeric, text)",
    "billing_step(text)",
    "billing_exponent(text)",
    "billing_role_of(text)",
    "billing_actor(text)",
    "billing_is_superuser()",
)


def _sql_text_array(values: frozenset[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in sorted(values)) + "]::text[]"


def _functions_sql() -> str:
    steps = {code: c.step for code, c in sorted(CURRENCIES.items()) if c.step != 1}
    default_limits = json.dumps(
        {role: {cur: str(v) for cur, v in table.items()} for role, table in DEFAULT_LIMITS.items()}
    )
    old = ", ".join(f"OLD.{c}" for c in CORRECTION_CONTENT)
    new = ", ".join(f"NEW.{c}" for c in CORRECTION_CONTENT)
    return (
        _FUNCTIONS_SQL.replace(":zero_decimal", _sql_text_array(ZERO_DECIMAL))
        .replace(":three_decimal", _sql_text_array(THREE_DECIMAL))
        .replace(":steps", "'" + json.dumps(steps) + "'")
        .replace(":default_limits", "'" + default_limits + "'")
        .replace(":old_content", f"ROW({old})")
        .replace(":new_content", f"ROW({new})")
    )


def _run(conn: Connection, script: str) -> None:
    # Straight to the driver without parameters, so `%` (format()) and `:` are plain SQL and a
    # script of several statements runs as one.
    cursor = conn.connection.cursor()
    try:
        cursor.execute(script)
    finally:
        cursor.close()


def install(conn: Connection) -> None:
    _run(conn, _ROLES_SQL)
    _run(conn, _functions_sql())
    _run(conn, _GRANTS_SQL)
    _run(conn, _EXECUTE_SQL)


def uninstall(conn: Connection) -> None:
    """Drop this database's functions and triggers; the cluster-wide roles stay (others use
    them)."""
    for table, trigger in (
        ("audit_log", "audit_log_chain"),
        ("audit_log", "audit_log_no_truncate"),
        ("audit_log", "audit_log_no_update"),
        ("holds", "holds_vet"),
        ("corrections", "corrections_content_immutable"),
        ("corrections", "corrections_vet"),
    ):
        _run(conn, f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for function in _FUNCTION_NAMES:
        _run(conn, f"DROP FUNCTION IF EXISTS {function}")
    _run(conn, f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLES}")
    _run(
        conn, f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLES}"
    )


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """PostgreSQL's refusals (from the functions and triggers above, or a missing privilege) as
    the domain's errors, with the database's own message."""
    try:
        yield
    except DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
        error = _ERRORS.get(state or "")
        if error is None:
            raise
        diag = getattr(exc.orig, "diag", None)
        message = getattr(diag, "message_primary", None) or str(exc.orig)
        raise error(f"the database refused: {message}") from None
