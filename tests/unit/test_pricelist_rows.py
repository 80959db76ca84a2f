"""Reading Partner Center price-list rows: normalisation and the reasons a row is refused."""
import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from services.pricing.domain.pricelist import RowError, header_index, parse_row

HEADER = ("ProductTitle,ProductId,SkuId,SkuTitle,Publisher,SkuDescription,UnitOfMeasure,TermDuration,BillingPlan,"
          "Market,Currency,UnitPrice,PricingTierRangeMin,PricingTierRangeMax,EffectiveStartDate,EffectiveEndDate,"
          "Tags,ERP Price,EndofSaleDate,Segment")
GOOD = ('Office 365 E1,CFQ7TTC0LF8Q,1,"Office 365 E1, Teams",Microsoft Corporation,,1 License,P1Y,Annual,US,USD,'
        '120.00,1,999999,1/1/2025,12/31/9999,License; EndOfSale,144.00,1/1/2027,Commercial')


def parse(line: str, market: str = "US"):  # type: ignore[no-untyped-def]
    index = header_index(HEADER.split(","))
    return parse_row(next(csv.reader(io.StringIO(line))), index, market)


def test_a_good_row_is_normalised() -> None:
    r = parse(GOOD)
    assert (r.product_id, r.sku_id, r.term_duration, r.billing_cycle) == ("CFQ7TTC0LF8Q", "0001", "P1Y", "annual")
    assert (r.effective_start, r.effective_end, r.unit_price) == (date(2025, 1, 1), date(9999, 12, 31), Decimal("120.00"))
    assert (r.tags, r.end_of_sale_date, r.eos_state) == (["License", "EndOfSale"], date(2027, 1, 1), "EndOfSale")
    assert r.sku_title == "Office 365 E1, Teams"


def test_iso_dates_and_datetimes_are_read_too() -> None:
    r = parse(GOOD.replace("1/1/2025", "2025-01-01T00:00:00.0000000Z").replace("12/31/9999", "9999-12-31"))
    assert (r.effective_start, r.effective_end) == (date(2025, 1, 1), date(9999, 12, 31))


@pytest.mark.parametrize("change, reason", [
    (("CFQ7TTC0LF8Q", "cfq7"), "ProductId 'cfq7' is not 12"),
    ((",P1Y,", ",P2Y,"), "TermDuration 'P2Y'"),
    ((",Annual,", ",Weekly,"), "BillingPlan 'Weekly'"),
    ((",US,USD,", ",GB,USD,"), "Market 'GB' does not match the file's market US"),
    (("120.00", "12O.00"), "UnitPrice '12O.00' is not a number"),
    (("120.00", "-1"), "UnitPrice '-1' must be between"),
    (("1/1/2025", "2/30/2025"), "'2/30/2025' is not a calendar date"),
    (("1/1/2025,12/31/9999", "1/1/2026,1/1/2025"), "EffectiveStartDate 2026-01-01 is after EffectiveEndDate"),
    (("1,999999", "500,10"), "PricingTierRangeMin 500 is above PricingTierRangeMax 10"),
])
def test_a_bad_row_says_what_is_wrong(change: tuple[str, str], reason: str) -> None:
    with pytest.raises(RowError, match=reason.replace("(", r"\(")):
        parse(GOOD.replace(*change, 1))


def test_a_header_without_the_partner_center_columns_is_refused() -> None:
    with pytest.raises(RowError, match="the header lacks UnitPrice"):
        header_index(HEADER.replace("UnitPrice,", "Price,").split(","))
