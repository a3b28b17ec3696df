"""What a question asks for (a penalty, a price, a phone number, an address, opening hours, a web
site, a number, a date, a name) and whether a passage gives it.

A passage can be on the question's subject and still not answer it: "what is the penalty for
pimping under the new law" finds the passages about the 2024 law, and none names a penalty. The
answerability model weighs "asks for X, and the passages shown give no X" (`missing_part`), and
the answer says which part is missing (`PART_MISSING`), in the reader's language.

The question side reads English, Russian (also typed in Latin letters) and Kazakh (also typed with
Russian letters); the passage side reads English and Russian, the languages sources are written in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from assistant.i18n import N_


@dataclass(frozen=True)
class Part:
    """One kind of thing a question can ask for: how a question asks for it, how a passage gives
    it, and how the answer names it when no passage does."""

    name: str
    asks: re.Pattern[str]
    gives: re.Pattern[str]
    missing: str
    """The message saying the documents give none (a msgid, translated where it is shown)."""
    specific: bool = True
    """Whether sources about a subject seldom give it in passing (a phone number, a penalty), so that
    its absence says more than that of a figure or a date, which passages hold by the dozen."""


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_MONEY = (r"\d[\d\s,.]*\s*(tenge|kzt|usd|eur|dollars?|euros?|rubles?|roubles?|mci|mrp|тенге|тг|руб\w*|мрп|аек)"
          r"|[$€₸£]\s*\d|\d\s*[$€₸£]")
_NUMBER = r"(?<![\w.])\d+(?:[.,]\d+)?\s*(%|percent|per cent|процент\w*)?(?![\w])"
"""A figure; the footnote markers glued to words in PDFs ("registration.44") are not figures."""

PARTS: tuple[Part, ...] = (
    Part("penalty",
         # How much or how long, not whether: "can I be jailed for it" is answered by "it is a crime".
         _words(r"\b(what|which)\b(\W+\w+){0,3}\W+(penalt\w*|punish\w*|sentenc\w*|fines?|prison term|jail time)\b"
                r"|\bhow (much|many|long|big|severe|harsh)\b(\W+\w+){0,4}\W+(penalt\w*|punish\w*|sentenc\w*|prison|jail"
                r"|fine[sd]?|years)\b|^\W*(max\w* |min\w* )?(penalt\w*|punish\w*|sentence|fine|jail time|prison time)\b"
                r"|\b(max\w*|min\w*) (penalt\w*|sentence|fine)\b"
                r"|как(ой|ая|ое|ие|ого)\s+(\w+\s+)?(штраф|наказан|срок)\w*|(сколько|скока)\s+(\w+\s+)?(лет|дают|штраф)\w*"
                r"|размер\w* штраф\w*|штраф\w*\s+(сколько|скока|в мрп|в тенге)|на сколько (лет )?(посад|сажа)\w*"
                r"|\b(skolko|skoka)\s+(let|dayut|shtraf)\w*|\bkakoj (shtraf|srok|nakaz)\w*"
                r"|(қандай|кандай|қанша|канша|неше|ең ауыр|ен ауыр)\s+(\w+\s+)?(жаза|айыппұл|айыппул|жыл|штраф|срок)\w*"
                r"|(жаза|айыппұл|айыппул|штраф)\w*\s+(қандай|кандай|қанша|канша)"),
         _words(r"\d+\s*(years?|months?|days?|лет|год\w*|месяц\w*|жыл\w*|ай\w*)\b[^.]{0,60}"
                r"(prison|imprison\w*|jail|detention|arrest|liberty|свобод\w*|арест\w*|заключ\w*|бас бостандығ\w*)"
                r"|(prison|imprison\w*|jail|detention|arrest|liberty|свобод\w*|арест\w*)[^.]{0,60}\d+\s*(years?|months?|days?|лет|год\w*|месяц\w*)"
                r"|(fine|penalty|штраф\w*)[^.]{0,40}(" + _MONEY + r"|\d+\s*(times|monthly calculation))"),
         N_("the documents discuss this but give no penalty or prison term")),
    Part("price",
         # How much, not whether it is paid for: "is it free?" is answered by "free".
         _words(r"\b(price\w*|how much (is|does|do|for|will|would|to)|costs? of|what does (\w+\W+){0,4}cost|fees?)\b"
                r"|сколько стоит|скока стоит|стоимост\w*|\bцен[аыуе]\b|skolko stoit|\bcena\b|\btsena\b"
                r"|бағас\w*|багас\w*|қанша тұрады|канша турады|қанша теңге|канша тенге|неше теңге|неше тенге"),
         _words(_MONEY + r"|free of charge|\bfree\b|бесплатн\w*|тегін"),
         N_("the documents discuss this but give no price")),
    Part("phone",
         # A number to call, not a call: "on which day could people phone the lawyer" asks a day.
         _words(r"\b(phone|telephone|contact|whatsapp)\s*(number|no\b|#)|\b(hotline|helpline|call cent(re|er)|number to call)\b"
                r"|\b(phone|telephone)\b\s*(\?|$|pls|please|or\b)|\b(what'?s|what is|give me) (the|their|her|his) (phone|number)\b"
                r"|(?<!по )телефон(?!\s+(по|через|арқылы|аркылы))\w*|горяч\w* лини\w*|\btelefon\w*|\bnomer\w*"
                r"|нөмір\w*|нөмер\w*|сенім телефон\w*"),
         _words(r"\+?\d[\d\s()\-]{6,}\d|\b(toll[- ]free|hotline|helpline)\b"),
         N_("the documents discuss this but give no phone number")),
    Part("address",
         # An address or a street asked for: "in which city is it" is answered by a city, "my address" asks none.
         _words(r"(?<!my )(?<!your )(?<!her )(?<!his )\b(address(es)?|which street|what street|street name|directions to)\b"
                r"|(?<!мой )(?<!свой )\bадрес\w*|на какой улице|как добраться|\badres\w*"
                r"|мекенжай\w*|мекен-жай\w*|қай көше\w*|кай коше\w*"),
         _words(r"\b(street|avenue|str\.|ave\.|building|floor)\b|\bул\.|улиц\w*|проспект\w*|дом \d+|көше\w*|даңғыл\w*"),
         N_("the documents discuss this but give no address")),
    Part("hours",
         _words(r"\b(opening hours|open(s|ed)? (on|at|until|till|late)|what time|working hours|when (is|are) .* open|closes?)\b"
                r"|часы работы|график работы|во сколько|до скольки|работает ли|работает в (субботу|воскресенье|выходные)"
                r"|жұмыс уақыт\w*|жумыс уакыт\w*|сағат неше|сагат неше|(сенбі|сенби|жексенбі|жексенби)\w* күні жұмыс"
                r"|(сенбі|сенби|жексенбі|жексенби)\w* куни жумыс"),
         _words(r"\b\d{1,2}[:.]\d\d\b|\b\d{1,2}\s*(am|pm)\b|\b(daily|monday|24 hours|24/7|around the clock)\b|круглосуточн\w*"),
         N_("the documents discuss this but give no opening hours")),
    Part("website",
         # A site asked for, not one the question mentions ("bookings through a website").
         _words(r"(?<!through a )(?<!on a )(?<!via a )(?<!from a )\b(website|web site|url|web address)\b"
                r"|(?<!через )(?<!на )\bсайт\b|ссылк\w*|\bsajt\b|\bsait\b|сілтеме\w*|сайты"),
         _words(r"https?://|\bwww\.|\b[\w-]+\.(org|com|kz|net|ru|eu|info)\b"),
         N_("the documents discuss this but give no web address")),
    Part("number",
         _words(r"\b(how many|how much|how long|what share|what percent\w*|what proportion|number of|how often|rate of|percentage)\b"
                r"|\bwhat('s| is| are| was| were) the (minimum|maximum|average|total|rate|number|amount|size|age)\b"
                r"|сколько|скока|какой процент|какая доля|количеств\w*|\bчисло\b|\bskolko\b|\bprocent\w*"
                r"|қанша|канша|неше|пайыз\w*"),
         _words(_NUMBER + r"|\b(two|three|four|five|six|seven|eight|nine|ten|dozens?|hundreds?|thousands?|millions?|half|"
                          r"quarter|majority)\b"),
         N_("the documents discuss this but give no such figure"), specific=False),
    Part("date",
         _words(r"^\W*((so|and|but) )?when\b|\b(what year|which year|since when|what date|in what year)\b"
                r"|^\W*когда|в каком году|с какого|какого числа|^\W*kogda\b"
                r"|қашан|кашан|қай жылы|кай жылы"),
         _words(r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|october"
                r"|november|december)\b|январ\w*|феврал\w*|март\w*|апрел\w*|\bма[йя]\b|июн\w*|июл\w*|август\w*"
                r"|сентябр\w*|октябр\w*|ноябр\w*|декабр\w*"),
         N_("the documents discuss this but give no date"), specific=False),
)
"""The parts, most specific first: a question that asks for a price ("how much does a test cost")
also reads as asking for a figure, and the price is what it wants."""

PARTS_BY_NAME = {part.name: part for part in PARTS}


def asked_parts(question: str) -> list[Part]:
    """What the question asks for, most specific first (empty: nothing a pattern can check)."""
    return [part for part in PARTS if part.asks.search(question)]


def missing_part(question: str, texts: Iterable[str]) -> Part | None:
    """The most specific thing the question asks for that none of `texts` gives, or None when
    every part asked for is given (or the question asks for none a pattern can check)."""
    asked = asked_parts(question)
    if not asked:
        return None
    texts = list(texts)
    for part in asked:
        if not any(part.gives.search(text) for text in texts):
            return part
    return None
