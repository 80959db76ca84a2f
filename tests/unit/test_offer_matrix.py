"""Reading the offer matrix YAML: SKU ids keep the digits written, even unquoted with leading zeros (YAML 1.1
reads `0010` as the octal number 8)."""
import pytest

from services.catalog.offer_matrix import read_offer_matrix

OFFER = """
products:
  - product_id: CFQ7TTC0LH18
    title: Microsoft 365 Business Basic
    skus:
      - sku_id: {sku}
        availability_id: CFQ7TTC0K971
        title: Basic
        markets: [US]
        plans: ["P1M:monthly"]
"""
RULE = """
eos:
  - {{product_id: CFQ7TTC0LH18, sku_id: {sku}, state: EndOfSale, effective_date: 2027-01-01}}
"""
LEADING_ZEROS = ["0010", "0100", "0017", "0001", "0009"]


@pytest.mark.parametrize("written", LEADING_ZEROS)
def test_an_offers_unquoted_sku_id_with_leading_zeros_keeps_its_digits(written: str) -> None:
    [offer], _ = read_offer_matrix(OFFER.format(sku=written))
    assert offer.catalog_item_id == f"CFQ7TTC0LH18:{written}:CFQ7TTC0K971"


@pytest.mark.parametrize("written", LEADING_ZEROS)
def test_an_eos_rules_unquoted_sku_id_with_leading_zeros_keeps_its_digits(written: str) -> None:
    _, [rule] = read_offer_matrix(RULE.format(sku=written))
    assert rule.sku_id == written


@pytest.mark.parametrize(("written", "sku"), [('"0010"', "0010"), ("10", "0010"), ("1", "0001"), ("DZH3", "DZH3")])
def test_a_quoted_short_or_lettered_sku_id_reads_as_before(written: str, sku: str) -> None:
    [offer], _ = read_offer_matrix(OFFER.format(sku=written))
    assert offer.sku_id == sku


def test_other_numbers_stay_numbers() -> None:
    [offer], _ = read_offer_matrix(OFFER.format(sku="0001") + "        max_quantity: 300\n")
    assert offer.max_quantity == 300
