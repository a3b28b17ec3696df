import pytest

from assistant.ingest.cleaning import clean


def blocks(raw: str, **kwargs) -> list[tuple[str, str]]:
    cleaned = clean(raw, **kwargs)
    return [(b.kind, cleaned.block_text(b)) for b in cleaned.blocks]


def test_hard_wrapped_lines_are_joined_into_one_paragraph():
    raw = "Kazakhstan has a concentrated HIV epidemic and\nsince 2011, sexual transmission of HIV became the\nepidemic's main driving force (50.7%).\n"
    assert blocks(raw) == [
        ("paragraph", "Kazakhstan has a concentrated HIV epidemic and since 2011, sexual transmission of HIV became the epidemic's main driving force (50.7%).")
    ]


def test_word_split_by_line_end_hyphenation_is_rejoined():
    raw = "The prevention programme works. Its preven-\ntion services reach many sex workers in the\nregion and prevention matters."
    assert "Its prevention services" in clean(raw).text


def test_compound_broken_at_its_own_hyphen_keeps_the_hyphen():
    """Both halves being words of the document ("law", "enforcement") marks a compound."""
    raw = (
        "Law enforcement matters. Sex workers from non-\ncentral sites have limited access. The law is implemented through law-\n"
        "enforcement agencies. The Director of “Sau-\nUrpak” said so; “peer-to-\npeer” work helps."
    )
    text = clean(raw).text
    for compound in ("non-central", "law-enforcement", "Sau-Urpak", "peer-to-peer"):
        assert compound in text


def test_footnote_adjacent_figures_are_left_untouched():
    raw = "COUNTRY INDICATORS\nLife expectancy at birth (2011): 69.012\n\nHIV prevalence among sex workers – female18 (2011): 1.5%19\n"
    text = clean(raw).text
    assert "Life expectancy at birth (2011): 69.012" in text
    assert "female18 (2011): 1.5%19" in text


def test_bullets_stay_separate_items_even_across_a_pdf_break():
    raw = (
        "KEY POINTS:\n• No civil, criminal or religious laws forbid the provision of\n\n"
        "commercial sex services in Kazakhstan per se.33\n\n• A number of provisions in the Criminal Code\n"
        "indirectly criminalize sex workers.34\n"
    )
    assert blocks(raw) == [
        ("heading", "KEY POINTS:"),
        ("bullet", "• No civil, criminal or religious laws forbid the provision of commercial sex services in Kazakhstan per se.33"),
        ("bullet", "• A number of provisions in the Criminal Code indirectly criminalize sex workers.34"),
    ]


def test_one_paragraph_per_line_documents_keep_their_paragraphs():
    first = "Until recently, Kazakhstan did not have a specific law addressing human trafficking, as required by international human rights treaties."
    second = "On July 5, 2024, President Kassym-Jomart Tokayev of Kazakhstan signed the Law “On Combating Human Trafficking.” This law is the first of its kind."
    assert blocks(f"{first}\n{second}\n") == [("paragraph", first), ("paragraph", second)]


def test_page_furniture_is_left_out():
    raw = (
        "Amelia NGO in Kazakhstan Publish Report on Sex Work\n\nShare to Pinterest Share to Google+ Share by email\n\n"
        "Back to the \"HIV and Co-Infections News\" list\n\nFacebook page of SWAN Twitter page of SWAN RSS feeds\n\n"
        "The report is about sex work.\n\nSubscribe\n\nStay in the loop and get all the updates in your inbox.\n\n » »\n"
    )
    text = clean(raw).text
    assert "The report is about sex work." in text
    for furniture in ("Share to", "Back to", "Facebook", "Stay in the loop", "Subscribe", "»"):
        assert furniture not in text


def test_upper_case_lines_are_headings_and_long_upper_case_runs_are_text():
    raw = "PREVENTION COMPONENT 2\nAVAILABILITY OF SERVICES\n\nTHE NUMBER OF SITES AND RANGE OF SEXUAL AND REPRODUCTIVE\nHEALTH AND HIV SERVICES AVAILABLE FOR SEX WORKERS\n\nKEY POINTS:\n• One.\n"
    cleaned = clean(raw)
    assert [(b.kind, b.level) for b in cleaned.blocks] == [("heading", 1), ("heading", 1), ("paragraph", 0), ("heading", 2), ("bullet", 0)]


def test_block_offsets_are_exact():
    raw = "TITLE LINE\nSome text that is\nwrapped here.\n\n• item one\n• item two\n"
    cleaned = clean(raw)
    assert [cleaned.text[b.start : b.end] for b in cleaned.blocks] == ["TITLE LINE", "Some text that is wrapped here.", "• item one", "• item two"]


def test_no_break_spaces_and_windows_newlines_are_normalised():
    assert clean("One\u00a0two.\r\n\r\nThree.").text == "One two.\n\nThree."


@pytest.mark.parametrize("ending", ["and", "exam-"], ids=["spaced", "broken-words"])
def test_cleaning_costs_time_in_proportion_to_a_paragraphs_length(ending):
    """A hard-wrapped paragraph with no blank line, its lines joined by spaces or at broken words.
    Issue 28: the join searched the whole paragraph so far for every line it added, so 117 KB took
    48.7 s. Four times the lines must cost about four times as long, not sixteen: the best of three
    runs of n and of 4n lines, compared as a ratio (no wall-clock threshold)."""
    import time

    def best(lines: int) -> float:
        text = "".join(f"Peer outreach workers visited saunas in Almaty {i} and offered rapid tests {ending}\n"
                       f"{'ple' if ending.endswith('-') else 'then'} went on\n" for i in range(lines // 2))
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            cleaned = clean(text)
            runs.append(time.perf_counter() - started)
        assert "\n" not in cleaned.text.strip()  # one paragraph
        return min(runs)

    ratio = best(8_000) / best(2_000)
    assert ratio < 8, f"4x the lines cost {ratio:.1f}x the time: joining lines is not linear"
