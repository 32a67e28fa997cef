"""The EDN reader on its own: the values Jepsen histories are made of, and where errors point."""

from __future__ import annotations

import pytest

from harness import edn


def test_scalars() -> None:
    assert edn.loads("nil") is None
    assert edn.loads("true") is True
    assert edn.loads("false") is False
    assert edn.loads("42") == 42
    assert edn.loads("-7") == -7
    assert edn.loads("0x1F") == 31
    assert edn.loads("12345678901234567890N") == 12345678901234567890
    assert edn.loads("1.5") == 1.5
    assert edn.loads("2.5M") == 2.5
    assert edn.loads("1e3") == 1000.0
    assert edn.loads("1/4") == 0.25
    assert edn.loads(r'"a \"quoted\" line\n"') == 'a "quoted" line\n'
    assert edn.loads(r'"\u00e9"') == "é"
    assert edn.loads(r"\a") == "a"
    assert edn.loads(r"\newline") == "\n"


def test_keywords_and_symbols_become_plain_strings() -> None:
    assert edn.loads(":read") == "read"
    assert edn.loads(":jepsen.nemesis/start") == "jepsen.nemesis/start"
    assert edn.loads("some-symbol") == "some-symbol"


def test_collections() -> None:
    assert edn.loads("[1 2 [3]]") == [1, 2, [3]]
    assert edn.loads("(1 2)") == [1, 2]
    assert edn.loads("#{1 2 3}") == frozenset({1, 2, 3})
    assert edn.loads("{:a 1, :b [2 3]}") == {"a": 1, "b": [2, 3]}
    # A vector used as a map key must stay usable as a key.
    assert edn.loads("{[1 2] :x}") == {(1, 2): "x"}


def test_a_set_of_unhashable_members_stays_a_list() -> None:
    assert edn.loads("#{[1] [2]}") == [[1], [2]]


def test_commas_comments_and_discard_are_whitespace() -> None:
    text = """
    ; a comment line
    [1, 2,, 3 ; trailing comment
     #_ 99 4]
    """
    assert edn.loads(text) == [1, 2, 3, 4]


def test_tagged_literals_keep_their_value() -> None:
    # Jepsen prints exceptions and records as tagged literals.
    obj = edn.loads('#object[java.lang.Exception 0x1f "boom"]')
    assert obj == {"tag": "object", "value": ["java.lang.Exception", 31, "boom"]}
    record = edn.loads("#jepsen.history.Op{:type :ok, :f :read}")
    assert record == {"type": "ok", "f": "read"}
    inst = edn.loads('#inst "2024-01-01T00:00:00Z"')
    assert inst == {"tag": "inst", "value": "2024-01-01T00:00:00Z"}


def test_loads_all_and_loads() -> None:
    assert edn.loads_all("1 :a [2]") == [1, "a", [2]]
    with pytest.raises(edn.EdnError):
        edn.loads("1 2")


def test_records_of_a_vector_give_each_items_line() -> None:
    text = "[{:a 1}\n {:a 2}\n\n {:a 3}]\n"
    assert edn.records(text) == [(1, {"a": 1}), (2, {"a": 2}), (4, {"a": 3})]


def test_records_of_one_map_a_line() -> None:
    text = "; header\n{:a 1}\n{:a 2}\n"
    assert edn.records(text) == [(2, {"a": 1}), (3, {"a": 2})]


def test_records_of_empty_text() -> None:
    assert edn.records("") == []
    assert edn.records("  ; only a comment\n") == []


@pytest.mark.parametrize(
    "text, line",
    [
        ("{:a 1}\n{:a 12x}\n", 2),  # a malformed number
        ("{:a 1}\n{:a 1.2.3}\n", 2),
        ("{:a 1}\n{:a 2}}\n", 2),  # a stray closer
        ("{:a 1}\n{:a 2\n", 2),  # a map never closed: its opening line
        ("[{:a 1}\n {:a 2}\n", 3),  # the history vector never closed: where the text ends
        ("[{:a 1}\n {:a 2)\n {:a 3}]\n", 2),  # wrong closer
        ("{:a 1}\n{:a}\n", 2),  # a key without a value
        ('{:a 1}\n{:a "never ends}\n', 2),  # an unterminated string
    ],
)
def test_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(edn.EdnError) as e:
        edn.records(text)
    assert e.value.line == line
    assert str(e.value).startswith(f"line {line}:")


def test_an_unclosed_map_inside_the_history_vector_names_its_own_line() -> None:
    # The map opened on line 2 swallows the following ones until the vector's `]`; the line
    # that needs fixing is 2, not the last line where the mismatch is noticed.
    text = "[{:a 1}\n {:a 2\n {:a 3}\n {:a 4}\n {:a 5}]\n"
    with pytest.raises(edn.EdnError) as e:
        edn.records(text)
    assert e.value.line == 2


def test_numbers_beyond_64_bits_and_deep_nesting_are_errors_with_a_line() -> None:
    # Python refuses int() of 4,300 digits and more with a ValueError, and the general reader
    # recursed once a level: both used to escape as "internal error" with no line.
    for text, words in (("[1\n" + "9" * 5000 + "]", "number too long"), ("[1\n" + str(2**64) + "]", "number too long"),
                        ("[1\n" + "[" * 100_000 + "]" * 100_000 + "]", "nested too deep")):
        with pytest.raises(edn.EdnError, match=words) as e:
            edn.records(text)
        assert e.value.line == 2
        assert edn.fast_records(text) is None  # the fast path leaves it to the general reader
    deep = "[" * edn.MAX_DEPTH + "]" * edn.MAX_DEPTH
    assert len(edn.records(deep)) == 1 and len(edn.loads_all(deep)) == 1
    assert edn.loads(str(2**63 - 1)) == 2**63 - 1 and edn.loads(str(-(2**63))) == -(2**63)
