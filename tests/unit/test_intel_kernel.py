"""The indicator matcher's compiled pass gives the answers of its Python source."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.intel import kernel
from tests.unit.kernel_util import interpreted, require_compiled_in_ci


def test_kernel_is_compiled_in_ci() -> None:
    require_compiled_in_ci(kernel)


SCALARS = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
VALUES = st.one_of(SCALARS, st.lists(st.text(max_size=4), max_size=2),
                   st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), VALUES, max_size=8), st.sets(st.text(max_size=8), max_size=6))
def test_compiled_and_interpreted_agree(fields: dict, known: set) -> None:
    negative = dict.fromkeys(known)
    compiled_out: list = []
    source_out: list = []
    compiled = kernel.unknown_texts(fields, negative, compiled_out)
    plain = interpreted(kernel).unknown_texts(fields, negative, source_out)
    assert (compiled, compiled_out) == (plain, source_out)
    if compiled:  # the complete answer: every unknown text that could hold one, in order
        assert compiled_out == [v for v in fields.values()
                                if type(v) is str and v not in negative and kernel.could_hold(v)]
    else:
        assert any(type(v) in (list, dict) for v in fields.values())


TEXTS = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789", min_size=1, max_size=70),
    st.text(alphabet="0123456789abcdef.:;/ =@[]%-", max_size=80),
    st.builds(lambda a, b, n: a + " " * n + b, st.text(max_size=40), st.text(max_size=40),
              st.integers(0, 3)),
    st.builds(lambda a, n: a * n, st.text(min_size=1, max_size=8), st.integers(40, 400)),
)


@settings(max_examples=1500, deadline=None)
@given(TEXTS)
def test_texts_the_pass_skips_can_hold_no_indicator(text: str) -> None:
    """What ``could_hold`` skips never reaches an indicator table in ``Snapshot.lookup``, so
    skipping it changes no answer (whatever the indicators)."""
    from hygie.intel.matcher import Snapshot

    assert interpreted(kernel).could_hold(text) == kernel.could_hold(text)
    if kernel.could_hold(text):
        return
    snapshot = Snapshot(())

    def refuse(*_args: object) -> bool:
        raise AssertionError(f"{text!r} reached an indicator table")

    for name in ("_url", "_hash_list", "_get", "_masked", "_domain"):
        setattr(snapshot, name, refuse)
    assert snapshot.lookup(text) == ()
