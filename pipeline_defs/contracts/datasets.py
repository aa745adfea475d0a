"""The five dataset declarations — the single source of truth for fields, rules, keys and prefixes.

Field order matters: it is the column order of the tables and the order in which rules are checked
(the first rule a record breaks is its reject reason).
"""

from __future__ import annotations

from decimal import Decimal

from .codes import COUNTRY_CODES, CURRENCY_CODES
from .model import ChildTable, Contract, Field

EMAIL = (
    r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"
)


def _currency(required: bool = True, description: str = "", **kw) -> Field:
    return Field("currency", "string", required=required, case="upper", choices=CURRENCY_CODES,
                 choices_name="ISO-4217", description=description, **kw)


def _updated_at() -> Field:
    return Field("updated_at", "timestamp", description="last change at the source; the later one wins on upsert")


CUSTOMERS = Contract(
    name="customers",
    source="crm",
    table="customers",
    key=("customer_id",),
    description="CRM customer master, one row per customer.",
    partition_field="signup_date",
    fields=(
        Field("customer_id", "string", required=True, description="CRM customer id"),
        Field("email", "string", required=True, case="lower", pattern=EMAIL, pattern_name="email",
              description="stored lower-case"),
        Field("first_name", "string"),
        Field("last_name", "string"),
        Field("company", "string"),
        Field("segment", "string", case="lower", choices=("enterprise", "smb", "consumer")),
        Field("country", "string", required=True, case="upper", choices=COUNTRY_CODES,
              choices_name="ISO-3166 alpha-2", description="stored upper-case"),
        Field("city", "string"),
        Field("signup_date", "date", required=True),
        Field("referred_by", "string", description="customer_id of the referring customer"),
        Field("attributes", "json", object_only=True, description="free-form object"),
        _updated_at(),
    ),
)

PRODUCTS = Contract(
    name="products",
    source="catalog",
    table="products",
    key=("sku",),
    description="Product catalogue, one row per SKU.",
    partition_field="updated_at",
    fields=(
        Field("sku", "string", required=True),
        Field("name", "string", required=True),
        Field("category", "string", required=True),
        Field("unit_price", "decimal", required=True, minimum=0),
        _currency(),
        Field("active", "boolean", description="true/false/1/0/yes/no accepted"),
        _updated_at(),
    ),
)

ORDERS = Contract(
    name="orders",
    source="erp",
    table="orders",
    key=("order_id",),
    description="ERP orders; each order's items become order_items rows.",
    partition_field="order_ts",
    fields=(
        Field("order_id", "string", required=True),
        Field("customer_id", "string", required=True),
        Field("order_ts", "timestamp", required=True, tz_aware=True, description="must carry Z or an offset"),
        Field("status", "string", required=True, case="lower",
              choices=("pending", "paid", "shipped", "delivered", "cancelled", "refunded")),
        _currency(),
        Field("channel", "string", case="lower", choices=("web", "store", "partner")),
        Field("items", "json", required=True, child="order_items",
              description="non-empty list of order lines (a JSON string in CSV)"),
        Field("total_amount", "decimal", required=True, description="= sum of quantity x unit_price (± 0.01)"),
        _updated_at(),
    ),
    children=(
        ChildTable(
            table="order_items",
            source_field="items",
            key=("order_id", "line_no"),
            description="one row per order line",
            fields=(
                Field("sku", "string", required=True),
                Field("quantity", "integer", required=True, minimum=0, exclusive_minimum=True),
                Field("unit_price", "decimal", required=True, minimum=0),
            ),
            total=("total_amount", "quantity", "unit_price", Decimal("0.01")),
        ),
    ),
)


def _prop(name: str, type_: str, event: str, **kw) -> Field:
    return Field(name, type_, applies_to=(event,), **kw)


WEB_EVENTS = Contract(
    name="web_events",
    source="web",
    table="web_events",
    key=("event_id",),
    description=(
        "Clickstream events (batch uploads and the stream archive). camelCase input is accepted. "
        "A missing event_id is derived as uuid5 of the record's canonical JSON, so a redelivered "
        "record gets the same id and dedupes."
    ),
    partition_field="occurred_at",
    camel_case=True,
    derive_id="event_id",
    folder_aliases=("events",),
    fields=(
        Field("event_id", "string", required=True, description="derived (uuid5) when missing"),
        Field("event_type", "string", required=True, case="lower",
              choices=("page_view", "purchase", "user_signup", "click", "error")),
        Field("user_id", "string", required=True),
        Field("session_id", "string"),
        Field("occurred_at", "timestamp", required=True, epoch=True, aliases=("timestamp",),
              description="ISO-8601 or epoch seconds / milliseconds (JavaScript Date.now())"),
        Field("device_type", "string", case="lower", choices=("desktop", "mobile", "tablet")),
        Field("page_url", "string"),
    ),
    properties=(
        _prop("load_time_ms", "number", "page_view", minimum=0, aliases=("loadTime",)),
        _prop("session_length", "number", "page_view", minimum=0),
        _prop("pages_viewed", "integer", "page_view", minimum=0),
        _prop("amount", "number", "purchase", minimum=0),
        _currency(required=False, applies_to=("purchase",)),
        _prop("items_count", "integer", "purchase", minimum=0),
        _prop("payment_method", "string", "purchase"),
        _prop("signup_method", "string", "user_signup"),
        _prop("campaign_source", "string", "user_signup"),
        _prop("marketing_consent", "boolean", "user_signup"),
        _prop("element_id", "string", "click"),
        _prop("element_type", "string", "click"),
        _prop("error_type", "string", "error"),
        _prop("error_message", "string", "error"),
    ),
)

MARKET_TICKS = Contract(
    name="market_ticks",
    source="market",
    table="market_ticks",
    key=("symbol", "ts"),
    description="Market price ticks.",
    partition_field="ts",
    folder_aliases=("ticks",),
    fields=(
        Field("symbol", "string", required=True, case="upper"),
        Field("price", "number", required=True, minimum=0, exclusive_minimum=True),
        Field("volume", "number", minimum=0),
        Field("ts", "timestamp", required=True, epoch=True,
              description="ISO-8601, or epoch seconds / milliseconds (by magnitude)"),
        Field("exchange", "string"),
    ),
)

CONTRACTS: dict[str, Contract] = {
    c.name: c for c in (CUSTOMERS, PRODUCTS, ORDERS, WEB_EVENTS, MARKET_TICKS)
}
