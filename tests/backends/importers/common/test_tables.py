"""join_tables (backends/importers/common/tables.py): tables joined whole, a key claimed twice refused by name."""
from __future__ import annotations

import pytest

from twinnet.backends.importers.common.tables import join_tables


def test_join_keeps_every_entry_in_order():
    assert list(join_tables({"Relu": 1}, {}, {"Conv": 2, "Pad": 3}, what="demo")) == ["Relu", "Conv", "Pad"]


def test_a_key_in_two_tables_is_refused_naming_table_and_key():
    with pytest.raises(ValueError, match="demo: 'Conv' is claimed by two tables"):
        join_tables({"Conv": 1}, {"Conv": 2}, what="demo")


def test_a_class_key_is_named_by_its_qualified_name():
    class Dense:
        pass

    with pytest.raises(ValueError, match=r"torch MODULE_TABLE: .*Dense is claimed by two tables"):
        join_tables({Dense: 1}, {Dense: 2}, what="torch MODULE_TABLE")
