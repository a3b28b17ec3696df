"""Writes common_words_ru.txt and common_words_kk.txt beside this file: common Russian and Kazakh
words, in the inflected forms text uses, for the test that the place check never fires on one.

A word is common when real text uses it and a spelling dictionary accepts it in lower case (a
dictionary spells proper nouns, real places among them, with a capital), unless it is also a form
of a proper noun of the Russian or Kazakh dictionary ("германии" is germanium's and Germany's, and
in a question it is Germany's):

- Russian: the most frequent words of wordfreq's list (PyPI `wordfreq`) that hunspell-ru accepts.
- Kazakh: wordfreq has no Kazakh, so the words of Tesseract's Kazakh word list (web text; no
  frequencies) that hunspell-kk accepts; the shortest ones, as short words are the frequent ones
  and the ones most like a short place name. Kazakh writes foreign names as Russian does, and
  hunspell-kk has some country names in lower case ("литва"), so a proper noun of hunspell-ru, or
  one with a Kazakh case ending ("литвада"), is left out too.

Run it when a source changes, then commit the two lists (tests never need these sources):

    apt-get install hunspell hunspell-ru hunspell-kk hunspell-tools tesseract-ocr tesseract-ocr-kaz
    python -m venv /tmp/words && /tmp/words/bin/pip install wordfreq==3.1.1
    /tmp/words/bin/python tests/answer/data/make_common_words.py
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
HUNSPELL = Path("/usr/share/hunspell")
TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")
RUSSIAN_WORDS = 20_000
KAZAKH_LONGEST = 7
LOWER_CASE = {"ru": re.compile(r"[а-яё]+"), "kk": re.compile(r"[а-яёәғқңөұүһі]+")}
KAZAKH_ENDINGS = """да де та те ға ге қа ке на не ны ні ды ді ты ті дан ден тан тен нан нен дың дің тың тің ның
нің дағы дегі тағы тегі нда нде ндағы ндегі мен бен пен""".split()
"""The case endings Kazakh adds to a name (as assistant/answer/coverage.py reads them)."""


def package_version(package: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                          check=True).stdout


def accepted(words, dictionary: str) -> set[str]:
    """The words hunspell accepts as spelled (`hunspell -G`): a proper noun only with its capital."""
    result = subprocess.run(["hunspell", "-d", dictionary, "-G"], input="\n".join(sorted(words)),
                            capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def proper_noun_forms(dictionary: str) -> set[str]:
    """Every form of a dictionary's capitalised entries, lower-cased, its affixes expanded by `unmunch`."""
    expanded = subprocess.run(["unmunch", str(HUNSPELL / f"{dictionary}.dic"), str(HUNSPELL / f"{dictionary}.aff")],
                              capture_output=True, check=True).stdout.decode("utf-8", "replace")
    return {word.lower() for word in expanded.split() if word[:1].isupper() and word[1:].islower()}


def tesseract_words(language: str) -> set[str]:
    """The word list inside Tesseract's trained data for `language` (`combine_tessdata -u`, `dawg2wordlist`)."""
    with tempfile.TemporaryDirectory() as folder:
        prefix = f"{folder}/{language}."
        subprocess.run(["combine_tessdata", "-u", str(TESSDATA / f"{language}.traineddata"), prefix],
                       capture_output=True, check=True)
        subprocess.run(["dawg2wordlist", f"{prefix}lstm-unicharset", f"{prefix}lstm-word-dawg", f"{prefix}words"],
                       capture_output=True, check=True)
        return set(Path(f"{prefix}words").read_text(encoding="utf-8", errors="replace").split())


def write(path: Path, header: str, words: list[str]) -> None:
    lines = [f"# {line}" if line else "#" for line in header.strip().splitlines()]
    path.write_text("\n".join(lines + words) + "\n", encoding="utf-8")
    print(f"{path.name}: {len(words)} words")


def russian(proper: set[str]) -> None:
    import wordfreq

    frequent = [word for word in wordfreq.top_n_list("ru", 100_000, wordlist="large")
                if LOWER_CASE["ru"].fullmatch(word) and word not in proper]
    known = accepted(frequent, "ru_RU")
    words = [word for word in dict.fromkeys(frequent) if word in known][:RUSSIAN_WORDS]
    write(HERE / "common_words_ru.txt", f"""
The {len(words)} most frequent Russian words of wordfreq {version("wordfreq")} (its "large" list) that
the Debian package hunspell-ru {package_version("hunspell-ru")} accepts in lower case (hunspell
{package_version("hunspell")}), less the forms of its proper nouns (unmunch, hunspell-tools
{package_version("hunspell-tools")}); most frequent first.
Licences: wordfreq's data CC BY-SA 4.0; hunspell-ru's Russian dictionary (Alexander I. Lebedev) a
BSD-style licence (see /usr/share/doc/hunspell-ru/copyright).
Made by tests/answer/data/make_common_words.py; do not edit by hand.
""", words)


def kazakh(proper: set[str]) -> None:
    def a_name(word: str) -> bool:
        return word in proper or any(word.endswith(ending) and word[: -len(ending)] in proper for ending in KAZAKH_ENDINGS)

    short = {word for word in tesseract_words("kaz") if LOWER_CASE["kk"].fullmatch(word) and len(word) <= KAZAKH_LONGEST}
    words = sorted((word for word in accepted(short, "kk_KZ") if not a_name(word)), key=lambda word: (len(word), word))
    write(HERE / "common_words_kk.txt", f"""
The {len(words)} Kazakh words of up to {KAZAKH_LONGEST} letters in the word list of Tesseract's Kazakh model (Debian
package tesseract-ocr-kaz {package_version("tesseract-ocr-kaz")}, read with combine_tessdata and
dawg2wordlist of tesseract-ocr {package_version("tesseract-ocr")}) that the Debian package hunspell-kk
{package_version("hunspell-kk")} accepts in lower case (hunspell {package_version("hunspell")}), less the
forms of the proper nouns of hunspell-kk and hunspell-ru {package_version("hunspell-ru")}, bare or with
a Kazakh case ending (unmunch, hunspell-tools {package_version("hunspell-tools")}); shortest first.
Licences: tesseract-ocr-kaz Apache-2.0; hunspell-kk GPL-2+ or LGPL-2.1+ or MPL-1.1+; hunspell-ru's
Russian dictionary a BSD-style licence (see /usr/share/doc/hunspell-ru/copyright).
Made by tests/answer/data/make_common_words.py; do not edit by hand.
""", words)


if __name__ == "__main__":
    proper = proper_noun_forms("ru_RU") | proper_noun_forms("kk_KZ")
    russian(proper)
    kazakh(proper)
