"""The dashboard's word catalogue (api/ui/strings.py), without a browser: every key the moved
pages' scripts and templates ask for exists, every text is used, and the two sides (Jinja's
``t`` and the served ``/ui/strings.js``) fill a text the same way."""

from __future__ import annotations

import json
import re
from pathlib import Path

from markupsafe import Markup

from api.ui import strings
from api.ui.strings import EN, html, t

UI = Path(strings.__file__).resolve().parent
# the files whose words live in the catalogue (docs/ui.md lists the pages that still carry theirs)
MOVED = [UI / "static" / name for name in ("app.js", "admin.js", "lockers.js", "login.js", "theme.js")] + [
    UI / "templates" / name for name in ("base.html", "login.html", "admin.html", "lockers.html")] + [
    UI / "routes.py"]
CALL = re.compile(r"""\bt\(([^,()]*)""")  # t(KEY, …): KEY a literal, or a choice of literals
KEY = re.compile(r"""["']([\w]+\.[\w.]+)["'](?!\s*\+)""")  # "admin.revoke" (not a prefix + …)
# a key built at run time: t(`ago.${unit}`) in a script, t("login.tab_" + value) in a template
DYNAMIC = re.compile(r"""\bt\(\s*(?:`([\w.]+)\$\{|["']([\w.]+)["']\s*\+)""")


def _uses() -> tuple[set[str], set[str]]:
    keys: set[str] = set()
    prefixes: set[str] = set()
    for path in MOVED:
        text = path.read_text(encoding="utf-8")
        for argument in CALL.findall(text):
            keys.update(KEY.findall(argument))
        prefixes.update(a or b for a, b in DYNAMIC.findall(text))
    return keys, prefixes


def test_every_key_asked_for_exists_and_every_text_is_used() -> None:
    keys, prefixes = _uses()
    assert keys, "no t(...) calls found: the pattern no longer matches the code"
    assert sorted(keys - EN.keys()) == []
    unused = [k for k in EN if k not in keys and not any(k.startswith(p) for p in prefixes)]
    assert unused == []


def test_texts_fill_their_fields_and_plurals_alike_on_both_sides() -> None:
    assert t("lockers.bays", n=1) == "1 bay" and t("lockers.bays", n=12) == "12 bays"
    assert t("common.forbidden", role="viewer") == "Not allowed: your role (viewer) may not do this."
    assert t("no.such.key") == "no.such.key"  # shown as itself, never blank
    # a template's text is escaped, its params too unless they are markup already
    assert html("base.vendor_fix", command=Markup("<code>make install</code>"), run="<b>", npm="&") == \
        "Run <code>make install</code> (or &lt;b&gt;), which runs &amp;."
    served = strings.script()
    table = json.loads(served[served.index("texts: ") + len("texts: "):served.rindex("}")])
    assert table == EN  # the scripts get the very same table


def test_no_inline_words_left_in_the_moved_scripts() -> None:
    """A capitalised English word in a string literal of a moved script is a text that escaped the
    catalogue (codes such as "Accepted" or "NetworkError" are data, listed here)."""
    data = {"Accepted", "Blocked", "Forbidden", "NetworkError", "Content-Type", "X-Chargebay-UI", "Accept"}
    for name in ("app.js", "admin.js", "lockers.js"):
        text = (UI / "static" / name).read_text(encoding="utf-8")
        code = "\n".join(line.split("//")[0] for line in text.splitlines()
                         if not line.lstrip().startswith(("*", "/**", "//")))
        words = {w for w in re.findall(r'"([A-Z][a-z]+(?: [^"]*)?)"', code) if w not in data}
        assert words == set(), f"{name}: {sorted(words)}"
