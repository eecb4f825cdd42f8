"""What a catalogue holds: per key a text, or its plural forms (``{"one": …, "other": …}``, the
CLDR categories ``Intl.PluralRules`` names), chosen by the param ``n``."""

from __future__ import annotations

Text = str | dict[str, str]
Texts = dict[str, Text]
