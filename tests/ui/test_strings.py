"""The dashboard's word catalogue (api/ui/strings/), without a browser: every key the pages'
scripts and templates ask for exists, every text is used, the two sides (Jinja's ``t`` and the
served ``/ui/strings.js``) fill a text the same way, and no page holds English of its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markupsafe import Markup

from api.ui import strings
from api.ui.strings import EN, html, t
from tests.ui.inline_words import script_words, template_words

UI = Path(strings.__file__).resolve().parents[1]
SCRIPTS = sorted((UI / "static").glob("*.js"))
TEMPLATES = sorted((UI / "templates").glob("*.html"))
SOURCES = [*SCRIPTS, *TEMPLATES, UI / "routes.py"]  # every file that shows words: all from the catalogue
CALL = re.compile(r"""\bt\(([^,()]*)""")  # t(KEY, …): KEY a literal, or a choice of literals
KEY = re.compile(r"""["']([\w]+\.[\w.]+)["'](?!\s*\+)""")  # "admin.revoke" (not a prefix + …)
# a key built at run time: t(`ago.${unit}`) in a script, t("login.tab_" + value) in a template
DYNAMIC = re.compile(r"""\bt\(\s*(?:`([\w.]+)\$\{|["']([\w.]+)["']\s*\+)""")
PAGES = {key.split(".")[0] for key in EN}  # "admin", "charge_point", …: a literal "page.thing" is a key
# in a script, a table of keys for t() to look up later: {configurationKey: "charge_point.answer_keys"}
NAMED = re.compile(r"""["'`]((?:""" + "|".join(sorted(PAGES)) + r""")\.\w[\w.]*)["'`](?!\s*\+)""")


def _uses() -> tuple[set[str], set[str]]:
    keys: set[str] = set()
    prefixes: set[str] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for argument in CALL.findall(text):
            keys.update(KEY.findall(argument))
        if path.suffix == ".js":
            keys.update(NAMED.findall(text))
        prefixes.update(a or b for a, b in DYNAMIC.findall(text))
    return keys, prefixes


def test_every_key_asked_for_exists_and_every_text_is_used() -> None:
    keys, prefixes = _uses()
    assert keys, "no t(...) calls found: the pattern no longer matches the code"
    assert sorted(keys - EN.keys()) == []
    unused = [k for k in EN if k not in keys and not any(k.startswith(p) for p in prefixes)]
    assert unused == []


def test_each_page_keeps_its_words_in_its_own_module() -> None:
    """network.py holds network.*, and so on; common.py the top bar's and what pages share."""
    shared = {"nav", "base", "theme", "common", "ago", "confirm"}
    for module in strings.PAGES:
        page = module.__name__.rsplit(".", 1)[-1]
        mine = shared if page == "common" else {page}
        assert {key.split(".")[0] for key in module.EN} <= mine, module.__name__


def test_texts_fill_their_fields_and_plurals_alike_on_both_sides() -> None:
    assert t("lockers.bays", n=1) == "1 bay" and t("lockers.bays", n=12) == "12 bays"
    assert t("common.forbidden", role="viewer") == "Not allowed: your role (viewer) may not do this."
    assert t("no.such.key") == "no.such.key"  # shown as itself, never blank
    # a template's text is escaped, its params too unless they are markup already
    assert html("base.vendor_fix", command=Markup("<code>make install</code>"), run="<b>", npm="&") == \
        "Run <code>make install</code> (or &lt;b&gt;), which runs &amp;."
    served = strings.script()
    table = json.loads(served[served.index("texts: ") + len("texts: "):served.rindex("}")])
    assert table == EN  # the scripts get the very same table, every page's module in it


@pytest.mark.parametrize("path", SCRIPTS + TEMPLATES, ids=lambda p: p.name)
def test_no_page_holds_words_of_its_own(path: Path) -> None:
    """A template's text or shown attribute, a script's literal where it is shown (or one that
    reads as English anywhere but in a class or a selector): a text that escaped the catalogue.
    How it looks, and what it lets through (units, OCPP codes): tests/ui/inline_words.py."""
    text = path.read_text(encoding="utf-8")
    found = script_words(text) if path.suffix == ".js" else template_words(text)
    assert found == set(), f"{path.name}: move these to api/ui/strings/: {sorted(found)}"


def test_the_inline_words_check_sees_what_it_should() -> None:
    """It must not pass everything: words in every shown place are found, code is not."""
    script = """
      const KINDS = { faulted: "Connector faulted" };            // a table of labels
      box.textContent = `page ${page} of ${pages}`;             // assigned
      toast(ok ? "Saved" : explain(result));                    // toasted
      h("td", { title: "Last seen", class: "muted small" },     // a shown attribute, a class
        cp.online ? "online" : t("common.offline"),             // a child, a key
        badge("Charging", "running"), " · ", time(at) + " kW"); // a badge's label; symbols, units
      if (status === "Not found") return;                       // compared: data
      document.querySelector("#tx-table tbody");                // a selector
    """
    assert script_words(script) == {"Connector faulted", "page {} of {}", "Saved", "Last seen", "online",
                                    "running"}
    template = """{% block title %}Not found{% endblock %}<h1>{{ t("network.title") }}</h1>
      <input placeholder="Search" aria-label="{{ t('network.search') }}"><p>{{ n }} ‹ › · 2.0.1</p>"""
    assert template_words(template) == {"Not found", "Search"}
