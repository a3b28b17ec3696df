"""Time in answers: the time focus of questions in three languages, the recency rule on a
hand-made ranking, years of undated sources, and the end-to-end answer to the example question."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.ingest.dates import newest_cited_year, year_label
from assistant.query.temporal import reorder, time_focus, view_time
from assistant.store.backends import Hit


@pytest.mark.parametrize(
    ("question", "language", "focus"),
    [
        ("Is sex work legal in Kazakhstan?", "en", "present"),
        ("Is selling sex still a crime in Kazakhstan?", "en", "present"),
        ("has the new trafficking law kicked in yet?", "en", "present"),
        ("What does the law say about prostitution today?", "en", "present"),
        ("What was the situation in 2012?", "en", "past"),
        ("before 2024, was sex work a crime?", "en", "past"),
        ("How many friendly cabinets are there?", "en", "neutral"),
        ("Сейчас проституция в Казахстане законна?", "ru", "present"),
        ("Легальна ли проституция в Казахстане?", "ru", "present"),
        ("Закон о торговле людьми уже вступил в силу?", "ru", "present"),
        ("Что было с секс-работой в 2004 году?", "ru", "past"),
        ("Раньше секс-работа была легальной?", "ru", "past"),
        ("Сколько дружественных кабинетов?", "ru", "neutral"),
        ("Қазір Қазақстанда жезөкшелік заңсыз ба?", "kk", "present"),
        ("Жезөкшелік заңсыз ба?", "kk", "present"),
        ("2012 жылы не болды?", "kk", "past"),
        ("Бұрын жезөкшелік үшін жаза болды ма?", "kk", "past"),
        # As typed: Kazakh with Russian letters, slang, no time word.
        ("казакстанда жезокшелик кылмыс па?", "kk", "present"),
        ("полиция устай ма?", "kk", "present"),
        ("реклама в телеге щас уголовка?", "ru", "present"),
        ("can cops lock me up for selling sex?", "en", "present"),
    ],
)
def test_time_focus_in_three_languages(question, language, focus):
    assert time_focus(question, language, newest_year=2025) == focus


def test_the_newest_year_a_text_cites_is_its_estimate_and_targets_are_not_cited_years():
    assert newest_cited_year("In 2004 there were 357 crimes; the 1995 law applies.") == 2004
    assert newest_cited_year("Targets for 2012, to be met by 2030.", today=date(2026, 1, 1)) == 2012
    assert newest_cited_year("A plan to 2031 and figures of 2019.", today=date(2026, 1, 1)) == 2019
    assert newest_cited_year("Costs 2,004 tenge, 69.012 per 1,000.") is None
    assert year_label(2015) == "2015" and year_label(None, 2004) == "year unknown, cites 2004 data"
    assert year_label(None) == "year unknown"


DOCS = {0: "old", 1: "old", 2: "mid", 3: "new", 4: "off"}
YEARS = {"old": 2004, "mid": 2012, "new": 2025, "off": None}


def ranking(*scores: float) -> list[Hit]:
    return [Hit(passage, score) for passage, score in enumerate(scores)]


def weigh_recency(hits, docs, years, *, focus, floor, present_weight, newest_in_top, margin):
    """Both steps, as the pipeline runs them on a fusion ranking."""
    view = view_time(hits, docs, years, focus=focus, floor=floor, margin=margin)
    eligible = {hit.passage for hit in hits if hit.score >= floor}
    return reorder(hits, view, docs, present_weight=present_weight, newest_in_top=newest_in_top, eligible=eligible), view


def test_the_newest_answering_source_is_brought_into_the_top_three():
    ordered, view = weigh_recency(ranking(0.60, 0.58, 0.57, 0.56, 0.2), DOCS, YEARS, focus="neutral", floor=0.3,
                                  present_weight=0.1, newest_in_top=3, margin=0.05)
    assert [h.passage for h in ordered] == [0, 1, 3, 2, 4]
    assert view.newest == "new" and view.mark("old") == "older" and view.mark("off") is None


def test_a_source_far_below_the_best_does_not_answer_a_question_not_about_now():
    ordered, view = weigh_recency(ranking(0.60, 0.58, 0.57, 0.40, 0.2), DOCS, YEARS, focus="neutral", floor=0.3,
                                  present_weight=0.1, newest_in_top=3, margin=0.05)
    assert [h.passage for h in ordered] == [0, 1, 2, 3, 4] and view.newest == "mid"


def test_a_question_about_now_weighs_recency_and_one_about_the_past_is_left_alone():
    present, _ = weigh_recency(ranking(0.60, 0.58, 0.57, 0.52, 0.2), DOCS, YEARS, focus="present", floor=0.3,
                               present_weight=0.1, newest_in_top=3, margin=0.05)
    assert present[0].passage == 3 and present[0].score == pytest.approx(0.62)
    past, view = weigh_recency(ranking(0.60, 0.58, 0.57, 0.52, 0.2), DOCS, YEARS, focus="past", floor=0.3,
                               present_weight=0.1, newest_in_top=3, margin=0.05)
    assert [h.passage for h in past] == [0, 1, 2, 3, 4] and view.newest == "mid"


def test_nothing_changes_when_the_answering_sources_share_a_year():
    same = {0: "mid", 1: "mid", 2: "mid", 3: "mid", 4: "off"}
    ordered, view = weigh_recency(ranking(0.60, 0.58, 0.57, 0.52, 0.2), same, YEARS, focus="present", floor=0.3,
                                  present_weight=0.1, newest_in_top=3, margin=0.05)
    assert [h.passage for h in ordered] == [0, 1, 2, 3, 4] and not view.differ and view.mark("mid") is None


def test_is_sex_work_legal_answers_with_the_current_law_first_and_shows_the_change(assistant):
    answer = assistant.ask("Is sex work legal in Kazakhstan?", 5)
    assert answer.time_focus == "present" and not answer.abstained
    # The law as it is now comes first; older sources' present-tense claims say which year they describe.
    assert answer.results[0].citation.year in (2024, 2025) and answer.results[0].recency == "newest"
    assert answer.as_of == 2025 and answer.data_age_note is None
    top = answer.results[:3]
    assert any(r.citation.year in (2024, 2025) and r.recency == "newest" for r in top)
    # Older sources that say it is legal (2015: decriminalised in 2001; 2012: "not illegal per se";
    # 2004's review) say the year whose state they describe.
    older = [r for r in answer.results if "not illegal" in r.text or "decriminalised" in r.text]
    assert older and all(r.recency == "older" and r.state_as_of in (2004, 2012, 2015) for r in older)
    assert answer.timeline and answer.timeline[0].year == 2025
    assert [e.year for e in answer.timeline] == sorted((e.year for e in answer.timeline), reverse=True)
    for entry in answer.timeline:
        result = answer.results[entry.rank - 1]
        assert entry.quote == result.text[result.highlight.start : result.highlight.end]
        assert entry.citation == result.citation
    undated = [e for e in answer.timeline if e.citation.year is None]
    assert all(e.year_label == "year unknown, cites 2004 data" for e in undated)


def test_a_question_about_2012_is_not_pushed_towards_new_sources(assistant):
    answer = assistant.ask("What was the legal situation of sex workers in 2012?", 5)
    assert answer.time_focus == "past"
    assert not any(r.citation.year in (2024, 2025) for r in answer.results[:3])


def test_sources_of_the_same_period_are_all_current_and_one_already_first_is_not_displaced():
    docs = {0: "law", 1: "old", 2: "article", 3: "old"}
    years = {"law": 2024, "article": 2025, "old": 2012}
    view = view_time(ranking(0.60, 0.58, 0.57, 0.56), docs, years, focus="present", floor=0.3, margin=0.05,
                     same_period=1)
    assert view.newest == "article" and view.current == {"law", "article"}
    assert view.mark("law") == view.mark("article") == "newest" and view.mark("old") == "older"
    assert view.as_of == 2025
    ordered = reorder(ranking(0.60, 0.58, 0.57, 0.56), view, docs, present_weight=0.0, newest_in_top=3,
                      newest_in_top_present=1)
    assert [h.passage for h in ordered] == [0, 1, 2, 3]


def test_a_question_about_now_is_led_by_a_current_source_found_just_under_the_floor():
    hits = ranking(0.60, 0.58, 0.57, 0.27, 0.2)
    strict = view_time(hits, DOCS, YEARS, focus="present", floor=0.3, margin=0.05)
    assert strict.newest == "mid"
    view = view_time(hits, DOCS, YEARS, focus="present", floor=0.3, margin=0.05, present_slack=0.05)
    assert view.newest == "new"
    ordered = reorder(hits, view, DOCS, present_weight=0.0, newest_in_top=3, newest_in_top_present=1)
    assert ordered[0].passage == 3
    # A question not about now gets no slack.
    assert view_time(hits, DOCS, YEARS, focus="neutral", floor=0.3, margin=0.5, present_slack=0.05).newest == "mid"


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Is sex work legal in Kazakhstan?", "en"),
        ("Законна ли секс-работа в Казахстане?", "ru"),
        ("Қазақстанда секс-жұмыс заңды ма?", "kk"),
    ],
)
def test_the_page_examples_lead_with_the_current_law_in_every_language(assistant, question, language):
    answer = assistant.ask(question, 5)
    assert answer.language == language and answer.time_focus == "present" and not answer.abstained
    first = answer.results[0]
    assert first.citation.year in (2024, 2025) and first.recency == "newest" and answer.as_of == 2025
    assert all(r.recency != "older" or r.state_as_of for r in answer.results)


def test_old_service_information_says_how_old_it_is(assistant):
    answer = assistant.ask("where can I get a free HIV test", 5)
    assert not answer.abstained and answer.as_of == 2012
    assert answer.data_age_note == "This information is from 2012 and may have changed."
