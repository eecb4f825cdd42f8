"""The dashboard's words, in one place: the templates read them with ``t(key, **params)`` (a
Jinja global) and the scripts with ``UI.t(key, params)`` from the same table, served as
``/ui/strings.js``. A translation is one more table of the same keys in :data:`CATALOGUES`.

Each page's words are in a module of their own here (``network.py``, ``charge_point.py``, …;
``common.py`` for the top bar and what pages share), merged into one table at import. Keys are
``page.thing``; ``{name}`` in a text is filled from the params (the same rule on both sides, so
a text reads the same wherever it is shown). A text that depends on a count is a dict of plural
forms (``one``, ``other``: the CLDR categories ``Intl.PluralRules`` names), chosen by the param
``n``. No page carries words inline (tests/ui/test_strings.py looks).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from markupsafe import Markup, escape

from api.ui.strings import (
    admin,
    alerts,
    charge_point,
    common,
    load,
    lockers,
    login,
    network,
    not_found,
    simulator,
    transactions,
)
from api.ui.strings.texts import Texts

log = logging.getLogger(__name__)

# the pages' tables, merged into one (a key may be in one page's module only)
PAGES = (common, login, network, charge_point, transactions, load, alerts, simulator, lockers, admin, not_found)


def _merge(modules: tuple[ModuleType, ...]) -> Texts:
    table: Texts = {}
    for module in modules:
        twice = table.keys() & module.EN.keys()
        if twice:
            raise ValueError(f"{module.__name__} repeats the keys {sorted(twice)}")
        table.update(module.EN)
    return table


EN: Texts = _merge(PAGES)

CATALOGUES: dict[str, Texts] = {"en": EN}
LANG = "en"  # one language for now; a second one is a table above and a choice here (or per request)

_FIELD = re.compile(r"\{(\w+)\}")


def _plural(n: Any) -> str:
    """English's two categories; a catalogue in another language needs Babel's rules here."""
    return "one" if n == 1 else "other"


def _text(key: str, n: Any) -> str:
    """The raw text of ``key`` (its plural form for ``n``); an unknown key is shown as itself (a
    page still renders) and logged (tests/ui/test_strings.py fails on it first)."""
    text = CATALOGUES[LANG].get(key)
    if text is None:
        log.warning("no text for %r in the %s catalogue", key, LANG)
        return key
    if isinstance(text, Mapping):
        return text.get(_plural(n), text["other"])
    return text


def _fill(text: str, params: Mapping[str, Any]) -> str:
    return _FIELD.sub(lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text)


def t(key: str, /, **params: Any) -> str:
    """The text of ``key`` in :data:`LANG` with its ``{fields}`` filled."""
    return _fill(_text(key, params.get("n")), params)


def html(key: str, /, **params: Any) -> Markup:
    """:func:`t` for a template: the text and its params escaped, but for params that are markup
    already (``"<code>make run</code>"|safe``), so a translator's text never injects HTML."""
    escaped = {name: escape(value) for name, value in params.items()}
    return Markup(_fill(str(escape(_text(key, params.get("n")))), escaped))


@functools.cache  # the catalogue is fixed while the app runs
def script(lang: str = LANG) -> str:
    """The catalogue as the script the pages load before app.js (``UI.t`` reads ``STRINGS``)."""
    table = json.dumps(CATALOGUES[lang], ensure_ascii=False, indent=0, sort_keys=True)
    return (f'"use strict";\n// generated from api/ui/strings/: edit the words there\n'
            f"const STRINGS = {{ lang: {json.dumps(lang)}, texts: {table} }};\n")
