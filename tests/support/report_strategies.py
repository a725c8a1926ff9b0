"""Hypothesis strategies for what a printer might send: report-shaped JSON (the keys the
snapshot reads, at the depths it reads them, id lists as AMS units and trays come) holding
any JSON value, drawn often from the values that break naive code."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from exporter.printer.merge import KEPT_PRINT_KEYS

# Keys the snapshot reads below `print`, so that drawn reports reach its code.
INNER_KEYS = ["id", "ams", "tray", "info", "temp", "humidity", "humidity_raw", "tray_type",
              "tray_color", "remain", "attr", "code", "ctc", "extruder", "nozzle", "bed",
              "type", "diameter", "htar", "state", "module", "name", "sw_ver",
              "product_name", "command"]
# What breaks naive code, drawn often: text no UTF-8 can hold, text past the label cap,
# numbers no float can hold, NaN and infinities as numbers and as text.
EDGE = st.sampled_from(["\ud800", "a\udfffb", "\ud83d\udda8", "x" * 400, "NaN", "inf",
                        "-Infinity", "1e999", 10 ** 400, -(10 ** 400), float("nan"),
                        float("inf"), 2 ** 64, -1, 255, 0xFFFFFFFF, "", " 42 ", "-52dBm",
                        "HS01", "FF0000FF", "RUNNING", "\n", "\x00"])
TEXT = st.text(max_size=12) | st.text(alphabet=st.characters(exclude_categories=()),
                                      max_size=40)
NUMBER = st.integers() | st.integers(min_value=-10 ** 400, max_value=10 ** 400) | st.floats()
SCALAR = EDGE | st.none() | st.booleans() | NUMBER | TEXT
KEY = st.sampled_from(sorted(KEPT_PRINT_KEYS) + INNER_KEYS) | st.text(max_size=6)


IDS = st.sampled_from(["0", "1", "2", 0, 1, 254, "255"])


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        objects = st.dictionaries(KEY, children, max_size=6)
        with_ids = st.builds(lambda d, i: {**d, "id": i}, objects, IDS)
        return (st.lists(children, max_size=6) | objects
                | st.lists(with_ids, min_size=1, max_size=5))

    return st.recursive(leaves, containers, max_leaves=30)


ANY_JSON = json_values(SCALAR)
REPORT = st.fixed_dictionaries({"print": st.dictionaries(
    st.sampled_from(sorted(KEPT_PRINT_KEYS)), ANY_JSON, max_size=12)})
VERSION = st.fixed_dictionaries({"info": st.fixed_dictionaries(
    {"command": st.just("get_version"), "module": ANY_JSON})})
MESSAGE = REPORT | VERSION | ANY_JSON
