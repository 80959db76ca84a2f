"""Messages of the pricing area."""
from datetime import date

from shared.contracts.common import BillingCycle, CatalogItemId, Country, Currency, Data, Money, TermDuration


class Price(Data):
    catalog_item_id: CatalogItemId
    market: Country
    currency: Currency
    term_duration: TermDuration
    billing_cycle: BillingCycle
    unit_price: Money
    effective_start: date
    effective_end: date


class SetPrice(Price):
    """pricing.set_price v1: add or replace a price row."""


class PricePublished(Price):
    """pricing.price_published v1."""
