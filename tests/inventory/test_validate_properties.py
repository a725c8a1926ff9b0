"""Property: any row through validation is either a record of valid text or rejected
with a known reason; nothing raises, nothing is lost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.inventory.record import COLUMNS, REJECTION_REASONS
from exporter.inventory.validate import is_valid_address, validate_rows
from exporter.text import LABEL_VALUE_LIMIT

pytestmark = pytest.mark.tier("unit")

# Values a database driver or a YAML file could hand over, weighted towards text that
# looks almost right.
TEXT = st.text(max_size=20) | st.text(alphabet=st.characters(exclude_categories=()), max_size=300)
ADDRESSES = st.sampled_from(["10.0.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "::",
                             "ff02::1", "printer.lan", "printer-", "1.2.3", "fe80::1%eth0"])
VALUE = (st.none() | st.booleans() | st.integers() | st.floats() | TEXT | ADDRESSES
         | st.sampled_from(["S1", "S1 ", "00M09A350100001", "12345678", "\ud800", " "]))
ROW = st.dictionaries(st.sampled_from([*COLUMNS, "other"]), VALUE, max_size=6)


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(ROW, max_size=8))
def test_any_row_is_accepted_or_gets_a_reason(rows: list[dict[str, object]]) -> None:
    records, rejected = validate_rows(rows)
    assert len(records) + len(rejected) == len(rows)
    assert all(r.reason in REJECTION_REASONS and r.message for r in rejected)
    assert sorted(r.index for r in rejected) == [r.index for r in rejected]
    serials = [r.serial for r in records]
    assert len(serials) == len(set(serials))
    for record in records:
        assert is_valid_address(record.ip)
        for text in (record.name, record.serial, record.access_code):
            assert text and text == text.strip() and len(text) <= LABEL_VALUE_LIMIT
            text.encode("utf-8")   # never a lone surrogate
    for reject in rejected:
        reject.message.encode("utf-8")
