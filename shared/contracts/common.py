"""Field types reused by several producers' contracts."""
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

TermDuration = Literal["P1M", "P1Y", "P3Y"]
BillingCycle = Literal["monthly", "annual", "triennial", "none"]

_CATALOG_ITEM = re.compile(r"^[A-Z0-9]{12}:[A-Z0-9]{4}:[A-Z0-9]{12}$")


def _catalog_item_id(value: str) -> str:
    product, _, rest = value.partition(":")
    sku, _, availability = rest.partition(":")
    normalised = f"{product}:{sku.zfill(4)}:{availability}"
    if not _CATALOG_ITEM.match(normalised):
        raise ValueError("catalog_item_id must be PRODUCT(12):SKU(4):AVAILABILITY(12), upper-case alphanumerics")
    return normalised


def _sku(value: str) -> str:
    padded = value.zfill(4)
    if not re.fullmatch(r"[A-Z0-9]{4}", padded):
        raise ValueError("a SKU id is 1-4 upper-case letters or digits (left-padded to 4)")
    return padded


def _product_sku(value: str) -> str:
    product, _, sku = value.partition(":")
    if not re.fullmatch(r"[A-Z0-9]{12}", product):
        raise ValueError("expected PRODUCT:SKU with a 12-character product id")
    return f"{product}:{_sku(sku)}"


CatalogItemId = Annotated[str, AfterValidator(_catalog_item_id)]
ProductId = Annotated[str, Field(pattern=r"^[A-Z0-9]{12}$")]
SkuId = Annotated[str, AfterValidator(_sku)]
ProductSku = Annotated[str, AfterValidator(_product_sku)]
Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:@-]+$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=6, ge=0, allow_inf_nan=False)]
MAX_QUANTITY = 1_000_000
MAX_TERMS_PER_EVENT = 100  # a customer's terms ending at one instant carried by one event (renewed in one transaction)
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY, strict=True)]
TierBound = Annotated[int, Field(ge=0, le=999_999_999)]  # a price list's PricingTierRange (stored as int)
Text = Annotated[str, Field(min_length=1, max_length=500)]


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character (U+0000) in any string: PostgreSQL text cannot store one. (Run on
    every message's data: strings are looked at in place, only containers recursed into.)"""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(isinstance(k, str) and "\x00" in k for k in value) or _any_nul(value.values())
    if isinstance(value, list | tuple):
        return _any_nul(value)
    return False


def _any_nul(values: Any) -> bool:
    for v in values:
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, dict | list | tuple) and has_nul(v):
            return True
    return False


def refuse_nul(value: Any) -> Any:
    if has_nul(value):
        raise ValueError("text must not contain a NUL character (U+0000)")
    return value


class Data(BaseModel):
    """Base of every message's data: unknown fields are ignored, known ones validated, no NUL in any text."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)


class CommandRejected(Data):
    command_type: str
    code: str
    message: str
