"""The indicator matcher's compiled pass gives the answers of its Python source, and its sieve
(``could_hold``) never drops a value in which ``Snapshot.lookup`` finds an indicator."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.intel import kernel
from hygie.intel.matcher import IndicatorRow, Snapshot
from tests.unit.kernel_util import interpreted, require_compiled_in_ci

SOURCE = interpreted(kernel)


def test_kernel_is_compiled_in_ci() -> None:
    require_compiled_in_ci(kernel)


SCALARS = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
VALUES = st.one_of(SCALARS, st.lists(st.text(max_size=4), max_size=2),
                   st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))
BITMAPS = st.one_of(st.just(bytes(kernel.V4_BITMAP_BYTES)), st.just(b"\xff" * kernel.V4_BITMAP_BYTES),
                    st.binary(min_size=kernel.V4_BITMAP_BYTES, max_size=kernel.V4_BITMAP_BYTES))
LABELS = st.frozensets(st.text(alphabet="abcdefz019-", max_size=4), max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), VALUES, max_size=8), st.sets(st.text(max_size=8), max_size=6),
       BITMAPS, LABELS)
def test_compiled_and_interpreted_agree(fields: dict, known: set, v4: bytes, tlds: frozenset) -> None:
    negative = dict.fromkeys(known)
    compiled_out: list = []
    source_out: list = []
    compiled = kernel.unknown_texts(fields, negative, compiled_out, v4, tlds)
    plain = SOURCE.unknown_texts(fields, negative, source_out, v4, tlds)
    assert (compiled, compiled_out) == (plain, source_out)
    if compiled:  # the complete answer: every unknown text that could hold one, in order
        assert compiled_out == [v for v in fields.values()
                                if type(v) is str and v not in negative and kernel.could_hold(v, v4, tlds)]
    else:
        assert any(type(v) in (list, dict) for v in fields.values())


OCTET = st.integers(0, 255).map(str)
IPV4 = st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.{d}", OCTET, OCTET, OCTET, OCTET)
TEXTS = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789", min_size=1, max_size=70),
    st.text(alphabet="0123456789abcdef.:;/ =@[]%-", max_size=80),
    st.text(alphabet="0123456789.:[]%", max_size=24),
    IPV4,
    st.builds(lambda ip, port: f"{ip}:{port}", IPV4, st.integers(0, 65535)),
    st.builds(lambda ip, zone: f"{ip}%{zone}", IPV4, st.text(alphabet="0:a", max_size=5)),
    st.builds(lambda ip, port, zone: f"{ip}:{port}%{zone}", IPV4, st.integers(0, 99),
              st.text(alphabet="0:", max_size=4)),
    st.builds(lambda ip: f"::ffff:{ip}", IPV4),
    st.builds(lambda *labels: ".".join(labels), st.text(alphabet="abcXYZ-0é", min_size=1, max_size=6),
              st.text(alphabet="abcXYZ-0éΣİ", min_size=1, max_size=6),
              st.sampled_from(["com", "COM", "fr", "local", "Σ", "Σ.", "aΣ", "İ"])),
    st.builds(lambda a, b: a + b, st.sampled_from(["http://", "https://", "ftp://", ""]),
              st.text(alphabet="abc./:0123", max_size=20)),
    st.builds(lambda a, b, n: a + " " * n + b, st.text(max_size=40), st.text(max_size=40),
              st.integers(0, 3)),
    st.builds(lambda a, n: a * n, st.text(min_size=1, max_size=8), st.integers(40, 400)),
)


def _indicators_in(text: str) -> list[tuple[str, str]]:
    """Indicators that ``text`` would hold if it were what it looks like: its address and
    networks around it, every dotted suffix as a domain, itself as an exact value."""
    found: list[tuple[str, str]] = [("url", text.lower()), ("md5", text.lower())]
    for part in {text, text.partition(":")[0], text.partition("%")[0], text.strip("[]")}:
        try:
            address = ipaddress.ip_address(part)
        except ValueError:
            continue
        if address.version == 4:
            found += [("ipv4", str(address))] + [("cidr", str(ipaddress.ip_network(f"{address}/{bits}", strict=False)))
                                                 for bits in (8, 13, 16, 24)]
    name = text.lower().rstrip(".")
    found += [("domain", name[i + 1:]) for i, ch in enumerate(name) if ch == "."] + [("domain", name)]
    return found


def _snapshot(pairs: list[tuple[str, str]]) -> Snapshot:
    return Snapshot(IndicatorRow(n, None, kind, value, 50, "clear", None, 1) for n, (kind, value) in enumerate(pairs))


@settings(max_examples=1500, deadline=None)
@given(TEXTS, st.booleans())
def test_sieve_never_drops_a_value_that_holds_an_indicator(text: str, own: bool) -> None:
    """With the indicators the text itself would hold (or with none of them), a text the
    sieve drops is one in which ``lookup`` finds nothing: dropping it changes no answer."""
    snapshot = _snapshot(_indicators_in(text) if own else [("ipv4", "203.0.113.9"), ("domain", "evil.org")])
    answer = kernel.could_hold(text, snapshot.v4_top, snapshot.tlds)
    assert SOURCE.could_hold(text, snapshot.v4_top, snapshot.tlds) == answer
    if not answer:
        assert snapshot.lookup(text) == (), f"{text!r} was dropped but holds an indicator"


def test_sieve_drops_the_common_shapes_of_a_live_stream() -> None:
    """What the sieve is for: GUIDs, paths, SIDs, times, private addresses and internal host
    names never reach the matcher's tables when no indicator could be in them."""
    snapshot = _snapshot([("ipv4", "91.215.85.142"), ("cidr", "185.220.0.0/16"), ("domain", "cdn-msupdate.net"),
                          ("sha256", "a" * 64)])
    v4, tlds = snapshot.v4_top, snapshot.tlds
    dropped = ["{5770385F-C22A-43E0-BF4C-06F5698FFBD9}", r"C:\Windows\System32\cmd.exe", "S-1-5-21-1-2-3-500",
               "10:05:33", "2026-11-23T10:05:33.123Z", "10.1.2.3", "192.168.10.20:445", "WIN-DC01.chu.local",
               "0x8020000000000000", "4624", "Microsoft-Windows-Security-Auditing"]
    kept = ["91.215.85.142", "185.220.33.1", "185.220.33.1:443", "91.215.85.142%::", "91.215.85.142%1:2:3",
            "x.cdn-msupdate.net", "Evil.NET.",
            "a" * 64, "SHA256=" + "b" * 64, "https://10.0.0.1/x", "fe80::1", "[2001:db8::1]:443",
            "mail@example.org", "type: 5 a.net;"]
    assert [text for text in dropped if kernel.could_hold(text, v4, tlds)] == []
    assert [text for text in kept if not kernel.could_hold(text, v4, tlds)] == []


def test_v4_bitmap_covers_networks_shorter_than_16() -> None:
    snapshot = _snapshot([("cidr", "100.0.0.0/7")])  # 100.0.0.0 - 101.255.255.255
    assert kernel.could_hold("101.200.3.4", snapshot.v4_top, snapshot.tlds)
    assert snapshot.lookup("101.200.3.4") != ()
    assert not kernel.could_hold("102.0.0.1", snapshot.v4_top, snapshot.tlds)
