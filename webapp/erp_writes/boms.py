"""Bills of materials: validate the ERP's document, write products and components idempotently."""

from typing import Any

from sqlalchemy import Row

from webapp.erp_client import PermanentError
from webapp.erp_writes.upsert import insert_ignoring_duplicates, insert_or_find_id
from webapp.erp_writes.written import Unwritable, Written
from webapp.extensions import execute_core
from webapp.models import Component, Product


def validate_bom(product_code: str, data: Any) -> dict[str, Any]:
    """Check the ERP's BOM document; raise PermanentError naming what is wrong."""
    if not isinstance(data, dict):
        raise PermanentError(f"the ERP sent {product_code} as {type(data).__name__}, not an object")
    if data.get("product_code") != product_code:
        raise PermanentError(f"the ERP answered for {product_code} with product {data.get('product_code')!r}")
    if not data.get("name"):
        raise PermanentError(f"{product_code} has no name")
    components = data.get("components")
    if not isinstance(components, list) or not components:
        raise PermanentError(f"{product_code} has no components")
    seen: set[str] = set()
    for index, component in enumerate(components, start=1):
        if not isinstance(component, dict) or not component.get("component_code"):
            raise PermanentError(f"{product_code} component {index} has no component code")
        quantity = component.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            raise PermanentError(f"{product_code} component {index}: quantity must be a whole number > 0, got {quantity!r}")
        if component["component_code"] in seen:
            raise PermanentError(f"{product_code} lists component {component['component_code']} twice")
        seen.add(component["component_code"])
    return data


def write_product(data: dict[str, Any], job_id: int) -> int:
    """Insert the product unless its code exists; return its id. Caller commits."""
    values = {"product_code": data["product_code"], "name": str(data["name"])[:200], "unit": str(data.get("unit") or "ea")[:16],
              "job_id": job_id}
    return insert_or_find_id(Product, values, "product_code")


def write_components(product_id: int, data: dict[str, Any]) -> None:
    """Insert the product's components unless present. Caller commits."""
    rows = [
        {"product_id": product_id, "component_code": str(c["component_code"])[:64], "name": str(c.get("name", ""))[:200],
         "quantity": c["quantity"]}
        for c in data["components"]
    ]
    execute_core(insert_ignoring_duplicates(Component, index_elements=["product_id", "component_code"]), rows)


def write_product_record(record: Row, job_id: int) -> Written:
    """Write the product of the BOM the record fetched; its components are the record's next write. Caller commits."""
    if not record.payload:
        raise Unwritable("no ERP data was fetched for this product")
    return Written(str(write_product(record.payload, job_id)), whole=False)


def write_components_record(record: Row, job_id: int) -> Written:
    """Write the components of the record's product, which its previous write made. Caller commits."""
    if not record.payload or not record.erp_ref:
        raise Unwritable("the product was not made, so its components cannot be")
    write_components(int(record.erp_ref), record.payload)
    return Written(record.erp_ref)
