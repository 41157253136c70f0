"""`make catalogs`: write `locales/messages.pot` from the English catalog (the
source of every key) and add any new key, untranslated, to each locale's
catalog so translators see what is missing (the catalog test fails until
they fill it in)."""

from __future__ import annotations

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.i18n import ALL_LOCALES, LOCALES_DIR

_BABEL = {"sr_Latn": "sr_Latn", "sr_Cyrl": "sr_Cyrl", "sq": "sq", "en": "en"}


def _read(locale: str) -> Catalog:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=_BABEL[locale])


def main() -> None:
    source = _read("en")
    template = Catalog(project="klokot-bot", fuzzy=False)
    for message in source:
        if message.id:
            english = message.string
            shown = english if isinstance(english, str) else " | ".join(english or ())
            template.add(message.id, "" if not message.pluralizable else ("", ""),
                         auto_comments=[shown])
    with (LOCALES_DIR / "messages.pot").open("wb") as handle:
        write_po(handle, template, width=100, omit_header=False)
    for locale in ALL_LOCALES:
        if locale == "en":
            continue
        catalog = _read(locale)
        added = [m.id for m in source if m.id and m.id not in catalog]
        for key in added:
            message = source[key]
            assert message is not None
            catalog.add(key, ("",) * catalog.num_plurals if message.pluralizable else "",
                        auto_comments=[f"English: {message.string}"])
        if added:
            path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100)
        print(f"{locale}: {len(added)} new key(s) to translate")


if __name__ == "__main__":
    main()
