"""The streaming array reader must give exactly what a full decode gives, for any content and
any window size, and fail clearly (not silently) on truncated or broken input."""
import io

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.jsonstream import BadElement, Malformed, NotAnArray, Truncated, iter_array

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=12), st.integers(1, 64), st.integers(1, 64), st.booleans())
def test_stream_equals_full_decode(items, window, probe, pretty):
    data = orjson.dumps(items, option=orjson.OPT_INDENT_2 if pretty else 0)
    assert list(iter_array(io.BytesIO(data), window=window, probe=probe)) == orjson.loads(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=5), st.text(), min_size=1, max_size=3), min_size=1, max_size=8),
       st.data())
def test_truncation_yields_complete_prefix_then_raises(items, data):
    raw = orjson.dumps(items)
    cut = data.draw(st.integers(1, len(raw) - 1))
    got = []
    with pytest.raises((Truncated, Malformed)):
        for x in iter_array(io.BytesIO(raw[:cut]), window=7, probe=5):
            got.append(x)
    assert got == items[: len(got)]


def test_bom_and_whitespace_are_accepted():
    assert list(iter_array(io.BytesIO(b"\xef\xbb\xbf \n [ 1 , {\"a\": [2]} ] \n"))) == [1, {"a": [2]}]


def test_one_element_with_invalid_utf8_is_reported_and_the_rest_survive():
    raw = b'[{"a": 1}, {"b": "\xff\xfe"}, {"c": 3}]'
    out = list(iter_array(io.BytesIO(raw)))
    assert out[0] == {"a": 1} and out[2] == {"c": 3}
    assert isinstance(out[1], BadElement) and out[1].index == 1


def test_multibyte_characters_split_across_windows():
    items = [{"t": "é😀ß" * i} for i in range(50)]
    assert list(iter_array(io.BytesIO(orjson.dumps(items)), window=3, probe=2)) == items


def test_not_an_array():
    with pytest.raises(NotAnArray) as e:
        list(iter_array(io.BytesIO(b'{"a": 1}')))
    assert e.value.first_char == "{"
    with pytest.raises(NotAnArray):
        list(iter_array(io.BytesIO(b"")))


def test_memory_does_not_hold_earlier_elements():
    # The window is compacted as we go: after many elements the buffer stays small.
    items = [{"x": "y" * 1000} for _ in range(3000)]
    stream = io.BytesIO(orjson.dumps(items))
    it = iter_array(stream, window=64 * 1024)
    for _ in range(2900):
        next(it)
    frame = it.gi_frame
    assert len(frame.f_locals["r"].buf) < 4 * 64 * 1024
