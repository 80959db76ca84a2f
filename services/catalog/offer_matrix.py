"""Reading the offer matrix file (YAML; format in services/sample/README.md) into catalog commands."""
import re
from typing import Any

import yaml
from pydantic import ValidationError

from shared.contracts.catalog import PublishOffer, SetEos


class OfferMatrixError(ValueError):
    pass


class _Loader(yaml.SafeLoader):
    """YAML as safe_load reads it, except that a plain integer written with a leading zero stays the text written:
    an unquoted `sku_id: 0010` is SKU 0010, where YAML 1.1 reads the octal number 8."""


def _int_or_digits(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | str:
    text = loader.construct_scalar(node)
    if isinstance(text, str) and re.fullmatch(r"0[0-9_]+", text):
        return text
    return loader.construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _int_or_digits)  # on _Loader only: SafeLoader is unchanged


def _plan(text: str) -> dict[str, str]:
    term, _, cycle = str(text).partition(":")
    return {"term_duration": term, "billing_cycle": cycle}


def _offer(product: dict[str, Any], sku: dict[str, Any]) -> dict[str, Any]:
    return {
        "catalog_item_id": f"{product['product_id']}:{str(sku['sku_id']).zfill(4)}:{sku['availability_id']}",
        "product_title": product["title"], "sku_title": sku["title"], "kind": product.get("kind", "license"),
        "segment": product.get("segment", "commercial"), "legacy": product.get("legacy", False),
        "markets": sku["markets"], "plans": [_plan(p) for p in sku["plans"]],
        "min_quantity": sku.get("min_quantity", 1), "max_quantity": sku.get("max_quantity", 10_000),
        "pooled_max_per_customer": sku.get("pooled_max_per_customer"), "trial": sku.get("trial", False),
        "addon_prerequisites": sku.get("addon_prerequisites", []), "upgrade_targets": sku.get("upgrade_targets", []),
    }


def read_offer_matrix(text: str) -> tuple[list[PublishOffer], list[SetEos]]:
    """The commands that load a matrix; a bad entry raises with where it is and what is wrong."""
    try:
        document = yaml.load(text, Loader=_Loader) or {}
    except yaml.YAMLError as e:
        raise OfferMatrixError(f"not YAML: {e}") from None
    offers, rules = [], []
    for i, product in enumerate(document.get("products", [])):
        for j, sku in enumerate(product.get("skus", [])):
            where = f"products[{i}] {product.get('product_id', '?')} skus[{j}] {sku.get('sku_id', '?')}"
            try:
                offers.append(PublishOffer.model_validate(_offer(product, sku)))
            except (KeyError, ValidationError) as e:
                raise OfferMatrixError(f"{where}: {_why(e)}") from None
    for k, rule in enumerate(document.get("eos", [])):
        try:
            rules.append(SetEos.model_validate(rule))
        except ValidationError as e:
            raise OfferMatrixError(f"eos[{k}]: {_why(e)}") from None
    return offers, rules


def _why(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"missing {e.args[0]}"
    assert isinstance(e, ValidationError)
    err = e.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
