"""One --input-shape syntax for report, diff and convert, and one shape formatter (graphreport/shapespec.py).
Every spelling that either command accepted before the two parsers were merged still parses to the same
shape."""
import pytest

from graphreport.convert.source import parse_shapes
from graphreport.errors import UsageError
from graphreport.shapespec import compact_shape, format_shape, name_bare_shape, parse_input_shapes


@pytest.mark.parametrize("given, expected", [
    (["x=1,224,224,3"], {"x": [1, 224, 224, 3]}),  # report and convert
    (["x:0=1,?,8"], {"x": [1, None, 8]}),  # report: ? (and a tensor suffix)
    (["x=-1,None,none,2"], {"x": [None, None, None, 2]}),  # report: other spellings of unknown
    (["x=1x224x224x3"], {"x": [1, 224, 224, 3]}),  # convert: x between dimensions
    (["1,28,28,1"], {"": [1, 28, 28, 1]}),  # convert: a bare shape for the only input
    (["x= 1, 2 ,3,"], {"x": [1, 2, 3]}),  # blanks and a trailing separator
    (["x="], {"x": []}),  # a scalar
    (["box=2", "box=3"], {"box": [3]}),  # the last value for a name holds (names may hold an x)
])
def test_parse(given, expected):
    assert parse_input_shapes(given) == expected


@pytest.mark.parametrize("given", [["=1,2"], ["x=1,a"], ["x=1.5"], ["x=4294967296"], ["x"], ["input"]])
def test_parse_refuses(given):
    with pytest.raises(UsageError):
        parse_input_shapes(given)


def test_convert_needs_every_dimension():
    assert parse_shapes(["x=1x8"]) == {"x": [1, 8]}
    for bad in ("x=1,?", "x=0,8", "x=-1,8"):
        with pytest.raises(UsageError, match="positive"):
            parse_shapes([bad])


def test_bare_shape_names_the_only_input():
    assert name_bare_shape({"": [1, 2], "y": [3]}, ["x"]) == {"x": [1, 2], "y": [3]}
    assert name_bare_shape({"x": [1]}, ["x", "y"]) == {"x": [1]}
    with pytest.raises(UsageError, match="one input"):
        name_bare_shape({"": [1, 2]}, ["x", "y"])


def test_format():
    assert format_shape([1, None, 3]) == "[1, ?, 3]"
    assert format_shape(None) == "?"
    assert format_shape(None, unknown_rank="(unknown rank)") == "(unknown rank)"
    assert format_shape([1, None], sep=",") == "[1,?]"
    assert compact_shape([1, None, 3]) == "1×?×3"
    assert compact_shape([]) == "scalar"
    assert format_shape((10, 224, 3), sep="x", brackets=False) == "10x224x3"
