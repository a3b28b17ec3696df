"""What a question asks for, and whether a passage gives it (`answer/asked.py`)."""

from __future__ import annotations

import pytest

from assistant.answer.asked import PARTS, asked_parts, missing_part
from assistant.i18n import Message


@pytest.mark.parametrize(("question", "part"), [
    ("what is the penalty for pimping under the new law", "penalty"),
    ("max sentence for trafficking a minor in kazakhstan?", "penalty"),
    ("какой штраф за проституцию сейчас", "penalty"),
    ("скока лет дают за вовлечение в проституцию", "penalty"),
    ("skolko let dayut za sutenerstvo", "penalty"),
    ("адам сатқаны үшін қандай жаза бар", "penalty"),
    ("адамды сатканы ушин ен ауыр жаза кандай", "penalty"),  # Kazakh typed with Russian letters
    ("how much does a private hiv test cost in almaty?", "price"),
    ("сколько стоит тест на ВИЧ", "price"),
    ("Алматыда АИТВ тесты канша турады", "price"),
    ("whats the hotline number if i think a girl is being trafficked", "phone"),
    ("телефон доверия в алматы", "phone"),
    ("Ковчег телефон нөмірі", "phone"),
    ("whats the address of amelia's office in taldykorgan", "address"),
    ("Алматы калалык ЖИТС орталыгы кай кошеде", "address"),
    ("what time does the friendly clinic open", "hours"),
    ("Шымкенттегі ЖИТС орталығы сенбі күні жұмыс істей ме?", "hours"),
    ("sana sezim website or insta pls", "website"),
    ("how many friendly cabinets are there", "number"),
    ("What is the minimum wage in Almaty?", "number"),
    ("when did the new law come into force?", "date"),
    ("Заң қашан күшіне енді?", "date"),
])
def test_what_a_question_asks_for_in_three_languages(question, part):
    assert asked_parts(question)[0].name == part


@pytest.mark.parametrize("question", [
    "could he go to jail for that?",  # whether, not how long: "it is a crime" answers it
    "меня могут посадить если я беру деньги за секс?",
    "Жаңа заң бойынша ақша төлеп секс сатып алған клиент жазалана ма?",
    "if i take bookings through a website, is that a crime now?",  # a site mentioned, not asked for
    "the lady at the testing place wanted my address. normal?",
    "субботник это что у ментов",  # a police practice, not a Saturday's opening hours
    "Ковчег ұйымы қай қалада орналасқан?",  # a city answers it
    "what happens when police raid a sauna?",  # "when" inside a sentence asks no date
    "is HIV testing free for migrants?",
])
def test_yes_no_questions_and_words_in_passing_ask_for_nothing_checkable(question):
    assert asked_parts(question) == []


def test_a_part_is_missing_until_a_passage_gives_it():
    question = "how many years in prison for pimping under the new law?"
    assert missing_part(question, ["The 2024 law criminalises pimping and the organisation of sexual services."]).name \
        == "penalty"
    assert missing_part(question, ["Pimping is punishable by imprisonment for 5 to 7 years."]) is None
    # The most specific part leads: a price asked as "how much" is missing although figures abound.
    assert missing_part("how much does a PrEP course cost?", ["In 2012, 19,600 sex workers were counted."]).name == "price"
    assert missing_part("how much does a PrEP course cost?", ["PrEP costs 12,000 tenge a month."]) is None
    assert missing_part("is it legal?", ["anything"]) is None


def test_every_part_says_what_is_missing_in_three_languages():
    for part in PARTS:
        english = Message(part.missing).render("en")
        assert english.startswith("the documents discuss this but give no")
        for lang in ("ru", "kk"):
            assert Message(part.missing).render(lang) != english
