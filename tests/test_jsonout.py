"""render/jsonout.py's indenting encoder writes the bytes of json.dumps(indent=1, ensure_ascii=False, default=str)
(the json module is the reference), also when its memo of small lists and dicts is hit by values that look
alike but are not equal."""
import enum
import json
import math

from graphreport.render import jsonout


class Color(enum.IntEnum):
    RED = 1


class Opaque:
    def __str__(self):
        return "opaque<&>"


def _reference(o, depth):
    text = json.dumps(jsonout._clean(o), indent=1, ensure_ascii=False, default=str)
    return text.replace("\n", "\n" + " " * depth)


LOOKALIKES = [
    {"T": "float32"}, {"T": "float32"}, {"T": 1}, {"T": "1"}, {"T": 1.0}, {"T": True}, {"T": None},
    [1, 16], [1, 16], [1.0, 16], ["1", 16], [True, 16], [None, 16], (1, 16),
    {1: "a"}, {"1": "a"}, {True: "a"}, {"true": "a"}, {None: 1}, {1.5: [1, 2]},
    {"x": float("nan")}, {"x": float("inf")}, {"x": -0.0}, [Color.RED], [1], [Opaque()], [Opaque()],
    {"nested": [{"dtype": "float32", "shape": [1, 16]}]}, {"nested": [{"dtype": "float32", "shape": [1, 16]}]},
    {"nested": [{"dtype": "float32", "shape": [1, 16.0]}]}, [], {}, [[]], [{}], "a\"b\\c\n\u2028é", 3, None,
    {"k": ["<tag>", "é"] * 80},  # longer than the memo's repr limit
]


def test_values_encode_as_json_dumps_at_each_depth():
    memo: dict = {}
    for depth in (0, 1, 3):
        for v in LOOKALIKES:
            assert jsonout._dumps(v, depth, memo) == _reference(v, depth), v


def test_a_list_of_lookalikes_in_one_memo():
    doc = {"nodes": [{"name": f"n{i}", "attrs": v} for i, v in enumerate(LOOKALIKES * 3)]}
    assert "".join(jsonout._parts(doc, 0)) == json.dumps(jsonout._clean(doc), indent=1, ensure_ascii=False,
                                                         default=str)
    assert math.isnan(LOOKALIKES[20]["x"])


def test_memo_is_bounded():
    memo: dict = {}
    for i in range(3 * jsonout.MEMO_ENTRIES_MAX):
        jsonout._dumps({"a": [[i]]}, 1, memo)
    assert len(memo) <= jsonout.MEMO_ENTRIES_MAX
