"""vocabulary.py: every model in DESIGN.md's table, by product name and serial prefix;
capabilities per model; names we have never seen; nozzle codes."""

from __future__ import annotations

import pytest

from exporter.printer.snapshot import (
    decode_nozzle_type,
    model_from_serial,
    model_from_version,
)
from exporter.printer.vocabulary import MODELS, model_label
from tests.support import payloads

pytestmark = pytest.mark.tier("unit")

# DESIGN.md's table: label, serial prefix, product_name (None: the table gives none).
DESIGN_TABLE = [
    ("X1C", "00M", "Bambu Lab X1-Carbon"),
    ("X1", "00W", None),
    ("X1E", "03W", None),
    ("P1P", "01S", "Bambu Lab P1P"),
    ("P1S", "01P", "Bambu Lab P1S"),
    ("P2S", "22E", "Bambu Lab P2S"),
    ("A1", "039", "Bambu Lab A1"),
    ("A1_MINI", "030", "Bambu Lab A1 mini"),
    ("H2D", "094", "Bambu Lab H2D"),
    ("H2D_PRO", "239", "Bambu Lab H2D Pro"),
    ("H2S", "093", "Bambu Lab H2S"),
    ("H2C", "31B", "Bambu Lab H2C"),
    ("X2D", "20P", "Bambu Lab X2D"),
    ("A2L", "26A", "Bambu Lab A2L"),
]


def test_the_table_is_designs_table() -> None:
    assert list(MODELS) == [label for label, _, _ in DESIGN_TABLE]


@pytest.mark.parametrize("label, prefix, product", DESIGN_TABLE)
def test_model_by_product_name_then_serial_prefix(label: str, prefix: str,
                                                  product: str | None) -> None:
    assert model_from_serial(prefix + "00A000000001") == label
    if product is not None:
        info = payloads.get_version(product, "01.00.00.00")["info"]
        assert model_from_version(info) == label
        # the printer's own name wins over a serial that says something else
        assert model_from_version(payloads.get_version(product.upper(), "1")["info"]) == label


def test_a_product_name_we_have_never_seen_still_names_the_model() -> None:
    assert model_label("Bambu Lab Foo 3") == "FOO_3"
    assert model_label("Bambu Lab  Q1-Max ") == "Q1_MAX"
    assert model_label("Prusa Core One") == "PRUSA_CORE_ONE"
    info = payloads.get_version("Bambu Lab Z9 Ultra", "01.00.00.00")["info"]
    assert model_from_version(info) == "Z9_ULTRA"


def test_no_product_name_falls_back_to_the_serial() -> None:
    # Older A1 firmware sends no product_name: get_version says nothing of the model.
    info = payloads.get_version("", "01.04.00.00")["info"]
    assert model_from_version(info) is None
    assert model_label("   ") is None
    assert model_from_version({"module": [{"name": "ota", "product_name": 7}]}) is None
    assert model_from_serial("ZZZ000") is None


def test_capabilities_follow_the_model() -> None:
    dual = {label for label, spec in MODELS.items() if spec.nozzles == 2}
    assert dual == {"H2D", "H2D_PRO", "H2C", "X2D"}
    assert MODELS["H2S"].nozzles == 1
    chamber = {label for label, spec in MODELS.items() if spec.chamber_sensor}
    assert {"X1C", "X1", "X1E", "H2D", "P2S"} <= chamber
    assert not chamber & {"P1P", "P1S", "A1", "A1_MINI"}
    assert MODELS["X1C"].door == "home_flag" and MODELS["H2D"].door == "stat"
    assert MODELS["P2S"].door == "stat" and MODELS["P1S"].door is None


@pytest.mark.parametrize("code, material, flow", [
    ("HS01", "hardened_steel", "standard"),
    ("HH01", "hardened_steel", "high_flow"),
    ("HE05", "tungsten_carbide", "high_flow"),
    ("SU00", "stainless_steel", "tpu_high_flow"),
    ("SS00", "stainless_steel", "standard"),
    ("hs01", "hardened_steel", "standard"),
    ("HX01", "hardened_steel", "unknown"),     # a flow letter we do not know
    ("HS07", "unknown", "standard"),           # a material we do not know
    ("hardened_steel", "hardened_steel", ""),  # older firmware: the material by name
    ("stainless_steel", "stainless_steel", ""),
    ("brass?", "unknown", "unknown"),
    ("", "", ""),
])
def test_nozzle_type_codes(code: str, material: str, flow: str) -> None:
    assert decode_nozzle_type(code) == (material, flow)
