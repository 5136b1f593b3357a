"""core/names.py: the 'did you mean' names."""

from __future__ import annotations

from core.names import closest


def test_closest_best_first_any_case() -> None:
    known = ["m0@d0.test", "M1@d0.test", "zz@other.org"]
    assert closest("M0@D0.TST", known, cutoff=0.6) == ["m0@d0.test", "M1@d0.test"]


def test_the_cutoff_decides_what_is_close_enough() -> None:
    assert closest("q5", ["q4"], cutoff=0.5) == ["q4"]
    assert closest("q5", ["q4"], cutoff=0.6) == []


def test_of_names_equal_but_for_case_the_first_is_suggested() -> None:
    assert closest("q5", ["Q4", "q4"], cutoff=0.5) == ["Q4"]
    assert closest("q5", ["q4", "Q4"], cutoff=0.5, n=1) == ["q4"]
