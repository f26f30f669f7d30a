"""Shared pieces of the HTTP layer: the Blueprint with our parser, base schemas, pagination."""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import json
import uuid
from typing import Any

import flask_smorest
import marshmallow as ma
from sqlalchemy import Select, and_, or_, text
from sqlalchemy.orm import InstrumentedAttribute, Session
from webargs.flaskparser import FlaskParser

from entryfy.errors import ValidationFailed


class Parser(FlaskParser):
    def _raw_load_json(self, req):
        # The API's own loader (api.body): depth limit, no lone surrogates.
        from api import body

        if not body.is_json(req.mimetype):
            return ma.missing
        return body.loads(req.get_data(cache=True))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        from webargs.flaskparser import abort

        reason = getattr(error, "msg", None) or "Invalid JSON body."
        abort(400, exc=error, messages={"json": [f"Invalid JSON body: {reason}"]})

    # A body that does not fit its schema is a malformed request: 400, as the API promises.
    DEFAULT_VALIDATION_STATUS = 400
    # webargs excludes unknown query parameters by default, which would override
    # QuerySchema's RAISE: let the schema decide.
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "querystring": None,
    }


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

    @staticmethod
    def problems(*slugs: str):
        """Declare the business-rule problems (entryfy.problem_types slugs) a view can answer
        with, for the OpenAPI document (api/openapi_docs.py). No wrapper: the view is the
        same function, only its documentation grows."""
        def decorator(func):
            func._apidoc = copy.deepcopy(getattr(func, "_apidoc", {}))
            manual = func._apidoc.setdefault("manual_doc", {})
            manual["x-problems"] = [*manual.get("x-problems", []), *slugs]
            return func
        return decorator

    def arguments(self, schema, *args, **kwargs):
        # One schema instance per route: given a class, webargs makes a new instance on every
        # request, and marshmallow deep-copies every declared field to build one. Loading
        # keeps no state on the instance, so threads can share it.
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)


class SingleLine(ma.validate.Validator):
    """One line of text: no line breaks or other control characters (names, subjects: they
    end up in mail headers, CSV files and log lines, where a line break starts a new one)."""

    error = "One line of text, without line breaks or control characters."

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and any(ch < " " or "\x7f" <= ch <= "\x9f" or ch in
                                          "\u2028\u2029" for ch in value):
            raise ma.ValidationError(self.error)
        return value


def _nul_fields(data: Any, path: str = "") -> list[str]:
    if isinstance(data, str):
        return [path or "_body"] if "\x00" in data else []
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _nul_fields(v, str(k))]
    if isinstance(data, list | tuple):
        return [p for v in data for p in _nul_fields(v, path)]
    return []


class _StrictSchema(ma.Schema):
    @ma.pre_load(pass_collection=True)
    def _refuse_nul(self, data: Any, **kwargs: Any) -> Any:
        # PostgreSQL cannot store NUL in text, and no real name or address contains one.
        bad = _nul_fields(dict(data) if hasattr(data, "keys") else data)
        if bad:
            raise ma.ValidationError({f: ["NUL characters are not allowed."] for f in bad})
        return data


class InSchema(_StrictSchema):
    """Input schemas refuse unknown fields: what the app sends beyond the declared is an error."""

    class Meta:
        unknown = ma.RAISE


class QuerySchema(_StrictSchema):
    """Query strings too: a misspelt filter should not silently list everything."""

    class Meta:
        unknown = ma.RAISE


class OutSchema(ma.Schema):
    class Meta:
        ordered = True


class Problem(ma.Schema):
    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict()


# ------------------------------------------------------------------- keyset pagination

class PageArgs(QuerySchema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 200))
    # An empty cursor is no page the API ever handed out: refused (400) like any other
    # malformed one, not read as "the first page".
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=400))


def page_schema(item: type[ma.Schema] | ma.Schema, name: str) -> type[ma.Schema]:
    """``{items: [...], next_cursor}``: the shape of every list."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item)),
            "next_cursor": ma.fields.String(allow_none=True),
        },
        name=name,
    )


def _encode(values: list[Any]) -> str:
    out = []
    for v in values:
        if isinstance(v, dt.datetime):
            out.append({"t": v.isoformat()})
        elif isinstance(v, uuid.UUID):
            out.append({"u": str(v)})
        else:
            out.append(v)
    return base64.urlsafe_b64encode(json.dumps(out).encode()).decode().rstrip("=")


def _decode(cursor: str, n: int) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != n:
            raise ValueError
        vals: list[Any] = []
        for v in raw:
            if isinstance(v, dict) and "t" in v:
                parsed = dt.datetime.fromisoformat(v["t"])
                if parsed.tzinfo is None:
                    raise ValueError
                vals.append(parsed)
            elif isinstance(v, dict) and "u" in v:
                vals.append(uuid.UUID(v["u"]))
            elif isinstance(v, str | int | float) or v is None:
                vals.append(v)
            else:
                raise ValueError
        return vals
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed({"cursor": ["Not a cursor this API gave out."]}) from None


def _check_types(values: list[Any], order: list[InstrumentedAttribute[Any]]) -> None:
    """A cursor's values must fit the page's key columns: a cursor of another list (a time
    where a sequence number goes) is a client's mistake, 400, not a database error."""
    for value, col in zip(values, order, strict=True):
        try:
            expected = col.type.python_type
        except NotImplementedError:  # a type without a Python equivalent: the database judges
            continue
        if value is None:
            continue
        ok = (isinstance(value, expected) and not isinstance(value, bool)
              if expected is not float else isinstance(value, int | float))
        if not ok:
            raise ValidationFailed({"cursor": ["Not a cursor this API gave out."]})


_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


def keyset_page(
    session: Session,
    stmt: Select[Any],
    order: list[InstrumentedAttribute[Any]],
    *,
    limit: int,
    cursor: str | None,
    descending: bool = True,
) -> dict[str, Any]:
    """One page of ``stmt`` ordered by ``order`` (the last column unique, e.g. the id).

    Keyset, not OFFSET: stable under inserts, and as fast on page 1000 as on page 1.
    ``order`` columns must be non-null.
    """
    if cursor:
        values = _decode(cursor, len(order))
        _check_types(values, order)
        # (a, b) < (x, y)  ==  a < x OR (a = x AND b < y), spelled out for every backend.
        clauses = []
        for i, col in enumerate(order):
            eq = [order[j] == values[j] for j in range(i)]
            cmp = col < values[i] if descending else col > values[i]
            clauses.append(and_(*eq, cmp))
        # The first column's bound again, on its own: an OR is no index condition, so without
        # it PostgreSQL walks the index from the newest row and filters out every row before
        # the cursor (a page a year back in 10M entries read ~500,000 rows; bench.data_at_size).
        first = order[0] <= values[0] if descending else order[0] >= values[0]
        stmt = stmt.where(first, or_(*clauses))
    stmt = stmt.order_by(*[c.desc() if descending else c.asc() for c in order]).limit(limit + 1)
    if session.get_bind().dialect.name == "postgresql":
        # Each page planned for its own values. psycopg prepares a statement at its fifth run
        # and PostgreSQL then may settle on a generic plan, blind to this customer's size and
        # to the list's customer_id and the tenant criteria's being one value: at 10M entries
        # the busy site's list estimated 1 row, read all 182,000 of the site and sorted them
        # (4.4 s) instead of one page of the (customer_id, site_id, time) index (2.5 ms;
        # bench.data_at_size). Transaction-local: safe behind a transaction pooler.
        session.execute(_CUSTOM_PLANS)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode([getattr(last, c.key) for c in order])
    return {"items": rows, "next_cursor": next_cursor}
