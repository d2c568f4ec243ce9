from core.jsonbody import json_problem


def test_flat_ascii_bodies_take_the_cheap_exit():
    assert json_problem('{"a": "b"}', {"a": "b"}, max_depth=2) is None


def test_depth_is_counted_through_objects_and_arrays():
    data = {"a": [{"b": []}]}
    assert json_problem("{[{[", data, max_depth=4) is None
    assert json_problem("{[{[", data, max_depth=3) == ("depth", None, None)


def test_the_path_names_the_value_or_the_parent_of_a_bad_key():
    assert json_problem('"\\u0000"', {"a": [{"b": "\x00"}]}, max_depth=8) == ("character", "a.0.b", "\x00")
    assert json_problem('"\\ud800"', {"a": {"\ud800": 1}}, max_depth=8) == ("character", "a", "\ud800")


def test_non_ascii_text_is_checked_even_without_escapes():
    assert json_problem('{"a": "\x85"}', {"a": "\x85"}, max_depth=8) == ("character", "a", "\x85")
    assert json_problem('{"a": "中文"}', {"a": "中文"}, max_depth=8) is None
