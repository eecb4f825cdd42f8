"""Find the words a dashboard page still carries inline, outside the catalogue (api/ui/strings):
a heuristic, not a JavaScript parser, honest about what it looks at.

- A template's text nodes and its ``placeholder``/``title``/``aria-label``/``label``/``alt``
  attributes, once every ``{{ … }}``, ``{% … %}`` and ``{# … #}`` is taken out.
- A script's string literals (a template literal's fixed parts) where they are shown: the
  children and the label of ``h(…)`` / ``badge(…)``, what ``toast``, ``confirm``,
  ``replaceChildren``, ``append`` and ``setCustomValidity`` get, what is assigned to
  ``textContent``, ``title`` or ``placeholder``, the value of an object's ``title``,
  ``placeholder``, ``aria-label`` or ``label``; and anywhere in the code a literal that reads as
  English: a capitalised word or a phrase of words, as tables of labels are. Left out: what is
  code (the literals of selectors, class names, ``t(…)`` keys, console logs, compared values).

A literal counts when a word of two letters or more in it is not in :data:`NON_WORDS` (units,
terms, the brand) and, for a lone capitalised word, not in :data:`DATA` (codes the pages send or
compare, such as OCPP statuses, which are shown as the charge point said them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

NON_WORDS = {"chargebay", "cb", "kW", "kWh", "Wh", "ms", "min", "JSON", "true", "false"}
DATA = {"Accepted", "Blocked", "Rejected", "Charging", "Faulted", "Available", "Preparing", "Unavailable",
        "Pending", "Reset"}
SHOWN_CALLS = {"toast": 0, "confirm": 0, "replaceChildren": None, "append": None, "setCustomValidity": 0,
               "badge": 1, "Invalid": 1}  # the argument shown (None: all)
SHOWN_KEYS = {"title", "placeholder", "aria-label", "label"}
SHOWN_PROPS = {"textContent", "title", "placeholder"}
CODE_CALLS = {"querySelector", "querySelectorAll", "closest", "getElementById", "matches", "add", "remove",
              "toggle", "getPropertyValue", "warn", "t"}  # their literals: selectors, classes, keys, logs
COMPARISONS = {"===", "!==", "==", "!="}
OPERATORS = ("===", "!==", "...", "||=", "&&=", "??=", "==", "!=", "=>", "<=", ">=", "&&", "||", "??", "?.",
             "+=", "-=")
WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "str", "name" or "punct"
    text: str


class _Lexer:
    """Tokens of a script: comments and regular expressions dropped, a template literal one "str"
    token of its fixed parts followed by the tokens of its ``${…}`` parts."""

    def __init__(self, code: str) -> None:
        self.code, self.i = code, 0
        self.out: list[Token] = []

    def run(self, in_template: bool = False) -> list[Token]:
        code, depth = self.code, 0
        while self.i < len(code):
            c = code[self.i]
            if c.isspace():
                self.i += 1
            elif code.startswith("//", self.i):
                end = code.find("\n", self.i)
                self.i = len(code) if end < 0 else end
            elif code.startswith("/*", self.i):
                self.i = code.index("*/", self.i) + 2
            elif c in "\"'":
                self.out.append(Token("str", self._quoted(c)))
            elif c == "`":
                self._template()
            elif c == "/" and self._regex_may_start():
                self._skip_regex()
            elif c.isalnum() or c in "_$":
                m = re.compile(r"[\w$]+").match(code, self.i)
                assert m is not None
                self.out.append(Token("name", m.group()))
                self.i = m.end()
            else:
                if in_template and c == "}" and depth == 0:
                    self.i += 1
                    return self.out
                op = next((o for o in OPERATORS if code.startswith(o, self.i)), c)
                depth += {"{": 1, "}": -1}.get(op, 0)
                self.out.append(Token("punct", op))
                self.i += len(op)
        return self.out

    def _quoted(self, quote: str) -> str:
        code, j, text = self.code, self.i + 1, []
        while code[j] != quote:
            text.append(code[j + 1] if code[j] == "\\" else code[j])
            j += 2 if code[j] == "\\" else 1
        self.i = j + 1
        return "".join(text)

    def _template(self) -> None:
        code, self.i, parts = self.code, self.i + 1, [""]
        inner: list[Token] = []
        while code[self.i] != "`":
            if code.startswith("${", self.i):
                self.i += 2
                nested = _Lexer(code)
                nested.i = self.i
                inner += nested.run(in_template=True)
                self.i = nested.i
                parts.append("")
            else:
                parts[-1] += code[self.i + 1] if code[self.i] == "\\" else code[self.i]
                self.i += 2 if code[self.i] == "\\" else 1
        self.i += 1
        self.out.append(Token("str", "{}".join(parts)))
        self.out += inner

    def _regex_may_start(self) -> bool:
        last = self.out[-1] if self.out else None
        return last is None or (last.kind == "punct" and last.text not in (")", "]", "}")) or \
            (last.kind == "name" and last.text in ("return", "typeof", "case"))

    def _skip_regex(self) -> None:
        code, j, in_class = self.code, self.i + 1, False
        while in_class or code[j] != "/":
            if code[j] == "\\":
                j += 1
            elif code[j] in "[]":
                in_class = code[j] == "["
            j += 1
        self.i = j + 1
        while self.i < len(code) and code[self.i].isalpha():
            self.i += 1


def tokens(code: str) -> list[Token]:
    return _Lexer(code).run()


def english(text: str) -> bool:
    """A literal a person would read: a word of two letters or more that is no unit or term."""
    return any(w not in NON_WORDS for w in WORD.findall(text))


def _close(toks: list[Token], i: int) -> int:
    """The index of the bracket closing the one at ``i``."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind == "punct" and toks[j].text in "([{":
            depth += 1
        elif toks[j].kind == "punct" and toks[j].text in ")]}":
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _split(toks: list[Token], start: int, end: int) -> list[tuple[int, int]]:
    """The [from, to) ranges of toks[start:end] between its top-level commas."""
    ranges, depth, first = [], 0, start
    for j in range(start, end):
        text = toks[j].text if toks[j].kind == "punct" else ""
        if text and text in "([{":
            depth += 1
        elif text and text in ")]}":
            depth -= 1
        elif depth == 0 and text == ",":
            ranges.append((first, j))
            first = j + 1
    ranges.append((first, end))
    return ranges


def _own(toks: list[Token], start: int, end: int, code: set[int]) -> Iterator[str]:
    """The literals of toks[start:end] not inside a call (a call's are its own business) nor code."""
    j = start
    while j < end:
        tok = toks[j]
        if tok.kind == "punct" and tok.text == "(" and j > start and (
                toks[j - 1].kind == "name" or toks[j - 1].text in (")", "]")):
            j = _close(toks, j) + 1
            continue
        if tok.kind == "str" and j not in code:
            yield tok.text
        j += 1


def _statement_end(toks: list[Token], i: int) -> int:
    return next((j for j in range(i, len(toks)) if toks[j].text in (";", "}")), len(toks))


def _code(toks: list[Token]) -> set[int]:
    """The literals that are code, not words: selectors, classes, keys, logs, compared values."""
    code: set[int] = set()
    for i, tok in enumerate(toks):
        after = toks[i + 1].text if i + 1 < len(toks) else ""
        before = toks[i - 1].text if i else ""
        if tok.kind == "name" and tok.text in CODE_CALLS and after == "(":
            code.update(range(i + 2, _close(toks, i + 1)))
        elif tok.kind == "name" and tok.text == "h" and after == "(":
            code.add(i + 2)  # the tag name
        elif tok.kind == "name" and tok.text == "className" and after == "=":
            code.update(range(i + 2, _statement_end(toks, i + 2)))
        elif tok.text == "class" and after == ":" and before in ("{", ","):
            code.update(range(i + 2, _split(toks, i + 2, _close_object(toks, i))[0][1]))
        elif tok.kind == "str" and (before in COMPARISONS or after in COMPARISONS or tok.text == "use strict"):
            code.add(i)
    return code


def script_words(code: str) -> set[str]:
    """The literals of a script that look shown to a person and are not from the catalogue."""
    toks = tokens(code)
    skip, found = _code(toks), set[str]()
    for i, tok in enumerate(toks):
        after = toks[i + 1].text if i + 1 < len(toks) else ""
        before = toks[i - 1].text if i else ""
        if tok.kind == "name" and after == "(" and (tok.text == "h" or tok.text in SHOWN_CALLS):
            args = _split(toks, i + 2, _close(toks, i + 1))
            which = SHOWN_CALLS.get(tok.text)
            shown = args[2:] if tok.text == "h" else args if which is None else args[which:which + 1]
            for a, b in shown:
                found.update(_own(toks, a, b, skip))
        elif tok.kind == "name" and tok.text in SHOWN_PROPS and before == "." and after in ("=", "+="):
            found.update(_own(toks, i + 2, _statement_end(toks, i + 2), skip))
        elif tok.text in SHOWN_KEYS and after == ":" and before in ("{", ","):
            found.update(_own(toks, i + 2, _split(toks, i + 2, _close_object(toks, i))[0][1], skip))
    for j, tok in enumerate(toks):  # a table of labels: English anywhere, but code
        if tok.kind == "str" and j not in skip and (
                re.fullmatch(r"[A-Z][a-z]+(?: .*)?", tok.text, re.S) and tok.text not in DATA
                or re.search(r"[A-Za-z]{2,} +[A-Za-z]|[A-Za-z] +[A-Za-z]{2,}", tok.text)):
            found.add(tok.text)
    return {text for text in found if english(text)}


def _close_object(toks: list[Token], i: int) -> int:
    """The index of the ``}`` closing the object literal whose key is at ``i``."""
    depth = 0
    for j in range(i, len(toks)):
        text = toks[j].text if toks[j].kind == "punct" else ""
        if text and text in "([{":
            depth += 1
        elif text and text in ")]}":
            if depth == 0:
                return j
            depth -= 1
    return len(toks)


JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
ATTRIBUTE = re.compile(r"""\b(?:placeholder|title|aria-label|label|alt)\s*=\s*"([^"]*)\"""")


def template_words(text: str) -> set[str]:
    """A template's inline words: text nodes and shown attributes outside Jinja's tags."""
    text = JINJA.sub(" ", re.sub(r"\{% block main_class %\}.*?\{% endblock %\}", "", text))
    found = set(ATTRIBUTE.findall(text))
    found.update(node.strip() for node in re.split(r"<[^>]*>", text))
    return {words for words in found if english(words)}
