"""The shipped sample's offers, by PRODUCT:SKU (availability ids come from the file, not from the tests)."""
from pathlib import Path

from services.catalog.offer_matrix import read_offer_matrix

SAMPLE = Path(__file__).resolve().parents[1] / "services" / "sample"
OFFERS = {o.catalog_item_id.rsplit(":", 1)[0]: o.catalog_item_id
          for o in read_offer_matrix((SAMPLE / "offers.yaml").read_text())[0]}
