"""Document files the format and library tests make themselves: a PDF (fpdf2), a web page, a .docx
(python-docx), and the bad inputs (encrypted, image-only, empty, 10,000 pages)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

# What the PDF prints, page by page, line by line ("" is a blank line). Page 1's last paragraph
# runs on to page 2 mid-sentence, "preven-/tion" is broken by hyphenation, and "services.12"
# carries a footnote marker. Every page has a running header and a "Page n of 3" footer.
PDF_HEADER = "Outreach Report 2023 - Steppe Health Alliance"
PDF_PAGES = [
    [
        "OUTREACH IN ALMATY",
        "",
        "Peer outreach workers from the Steppe Health Alliance visited forty saunas and hotels",
        "in Almaty during the spring of 2023, offering rapid HIV tests, condoms and legal",
        "advice to sex workers who cannot reach a clinic.",
        "",
        "The team found that fear of police raids kept many women away from the friendly",
        "cabinets, so the outreach workers began carrying test kits and HIV preven-",
        "tion materials directly to the places where women work, and they kept a",
    ],
    [
        "record of every visit in a paper logbook.",
        "",
        "Migrants without propiska were tested free of charge at the mobile clinic, which",
        "parked outside the central market every Tuesday and offered confidential counselling",
        "and referral to treatment services.12 Undocumented women were not asked for papers.",
        "",
        "12 Mobile clinic statistics, Steppe Health Alliance, 2023.",
    ],
    [
        "LEGAL AID",
        "",
        "A lawyer from the alliance answered questions about the 2024 trafficking law by",
        "telephone on Thursdays, and explained that the law does not punish selling sex",
        "itself, only organising it and keeping a brothel.",
    ],
]
# A sentence on each page, to check the page a passage is cited on.
PDF_PAGE_OF = {
    "Peer outreach workers from the Steppe Health Alliance": 1,
    "Migrants without propiska were tested free of charge": 2,
    "A lawyer from the alliance answered questions": 3,
}
PDF_TITLE = "Outreach in Almaty: field report"

HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Night bus outreach | Harm Reduction Network</title>
<meta property="og:title" content="Night bus outreach">
<meta property="og:site_name" content="Harm Reduction Network">
<meta property="article:published_time" content="2022-09-14">
<link rel="canonical" href="https://example.org/news/night-bus-outreach">
</head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/donate">Donate to our work today</a></li></ul></nav>
<main><article>
<h1>Night bus outreach</h1>
<p>Every Friday night a converted bus stops near the railway station in Shymkent, where social workers hand out clean syringes, condoms and information about sexually transmitted infections to anyone who asks.</p>
<h2>Who comes to the bus</h2>
<p>Most visitors are women who sell sex along the highway; some are migrants from Uzbekistan who have no health insurance and are afraid to visit a state polyclinic.</p>
<p>The nurse on board can take a blood sample for a syphilis test, and the results are sent by text message within three days.</p>
</article></main>
<footer><p>Subscribe to our newsletter for monthly updates on harm reduction in Central Asia.</p><p>Copyright 2022 Harm Reduction Network. All rights reserved. Privacy policy.</p></footer>
</body></html>
"""
HTML_BOILERPLATE = ["Donate to our work today", "Subscribe to our newsletter", "All rights reserved"]

DOCX_TITLE = "Shelter guidelines for survivors"
DOCX_PARAGRAPHS = [
    ("Heading 1", "Admission"),
    (None, "A woman who escaped a trafficking situation can stay at the shelter in Karaganda for up to "
           "ninety days, with meals, psychological support and help to recover her identity documents."),
    ("List Bullet", "No referral letter is needed."),
    ("List Bullet", "Children may stay with their mother."),
    ("Heading 1", "Legal support"),
    (None, "The shelter lawyer accompanies survivors to the police and to court, and explains their "
           "right to compensation under the 2024 law on combating human trafficking."),
]


PDF_CREATED = datetime(2024, 6, 3, 9, 30, tzinfo=timezone.utc)
"""The creation date the sample PDF records (its text cites 2023 and the 2024 law)."""


def make_pdf(path: Path, pages: list[list[str]] = PDF_PAGES, *, title: str | None = PDF_TITLE,
             created: datetime = PDF_CREATED, compress: bool = True) -> Path:
    """A PDF of `pages` with running header and footer; `created` is its /CreationDate; `compress`
    off leaves its page contents readable (what a byte-level fuzzer wants to damage)."""
    from fpdf import FPDF

    class Report(FPDF):
        def header(self):
            self.set_font("Helvetica", size=8)
            self.cell(0, 8, PDF_HEADER, align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(4)

        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Report()
    pdf.set_compression(compress)
    if title:
        pdf.set_title(title)
    pdf.set_creation_date(created)
    pdf.set_font("Helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def make_html(path: Path) -> Path:
    path.write_text(HTML_PAGE, encoding="utf-8")
    return path


def make_docx(path: Path, *, created: datetime | None = None) -> Path:
    """A Word file with headings, a list and a table; `created` its core property (None: the
    python-docx template's)."""
    import docx

    document = docx.Document()
    document.core_properties.title = DOCX_TITLE
    if created is not None:
        document.core_properties.created = created
    for style, text in DOCX_PARAGRAPHS:
        if style and style.startswith("Heading"):
            document.add_heading(text, level=int(style.split()[-1]))
        else:
            document.add_paragraph(text, style=style)
    document.save(str(path))
    return path


def make_encrypted_pdf(path: Path, source: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


def make_image_only_pdf(path: Path) -> Path:
    """A scan: pages with pictures and no text layer."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.set_fill_color(40, 40, 40)
        for row in range(20):
            pdf.rect(20, 20 + row * 12, 170, 6, style="F")  # grey bars where the text lines were
    pdf.output(str(path))
    return path


def make_huge_pdf(path: Path, pages: int = 10_000) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


# A Russian field report, written for these tests (not a translation of a real document), as it
# would be captured from a PDF: hard-wrapped lines, a word hyphenated across a line end
# ("профилак-/тические"), a sentence running on after a line ending in "а", an abbreviation
# ("т.е.") inside a sentence, a heading in capitals and a quotation in «guillemets».
RUSSIAN_TITLE = "Аутрич в Алматы: полевой отчёт"
RUSSIAN_LINES = [
    "ДОСТУП К УСЛУГАМ",
    "",
    "Аутрич-работники Степного альянса здоровья посетили сорок саун и гостиниц Алматы весной",
    "2023 г. и предложили экспресс-тесты на ВИЧ, презервативы и юридические консультации",
    "секс-работницам, которые не могут дойти до клиники.",
    "",
    "Страх полицейских облав удерживает многих женщин от дружественных кабинетов, поэтому профилак-",
    "тические материалы и тест-системы стали доставлять прямо на места работы, а",
    "каждый визит записывали в бумажный журнал.",
    "",
    "МОБИЛЬНАЯ КЛИНИКА",
    "",
    "Мигрантов без прописки тестировали бесплатно в мобильной клинике, которая стояла у Зелёного",
    "базара каждую среду, т.е. документы не требовались. Консультации были конфиденциальными.",
    "",
    "ЮРИДИЧЕСКАЯ ПОМОЩЬ",
    "",
    "Юрист альянса отвечал на вопросы о законе 2024 года по телефону по четвергам. «Закон не",
    "наказывает за саму продажу секса, только за её организацию и содержание притона», — объяснил он.",
]
RUSSIAN_TEXT = "\n".join(RUSSIAN_LINES) + "\n"
RUSSIAN_FACTS = {
    # sentence of the served text -> (a Russian question, an English question) it answers
    "Юрист альянса отвечал на вопросы о законе 2024 года по телефону по четвергам.": (
        "В какой день недели юрист консультирует по телефону?",
        "On which weekday could people phone the lawyer with questions about the law?",
    ),
    "Мигрантов без прописки тестировали бесплатно в мобильной клинике, которая стояла у Зелёного базара каждую среду, т.е. документы не требовались.": (
        "где мигрант без регистрации может бесплатно провериться на вич",
        "Where were migrants without registration tested for free?",
    ),
}
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def make_russian(path: Path) -> Path:
    """The Russian report as `path`'s format: .txt, .pdf (fpdf2 with DejaVu Sans, one line a
    cell, as a PDF keeps them), .html (one paragraph an element) or .docx."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        path.write_text(RUSSIAN_TEXT, encoding="utf-8")
    elif suffix == ".pdf":
        from fpdf import FPDF

        pdf = FPDF()
        pdf.set_title(RUSSIAN_TITLE)
        pdf.add_font("DejaVu", fname=str(DEJAVU))
        pdf.set_font("DejaVu", size=10)
        pdf.add_page()
        for line in RUSSIAN_LINES:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.output(str(path))
    elif suffix in (".html", ".docx"):
        blocks, current = [], []
        for line in RUSSIAN_LINES + [""]:
            if line:
                current.append(line)
            elif current:
                blocks.append(current)
                current = []
        paragraphs = [(_unwrap(block), block[0].isupper() and len(block) == 1) for block in blocks]
        if suffix == ".html":
            body = "".join(f"<h2>{text}</h2>" if heading else f"<p>{text}</p>" for text, heading in paragraphs)
            path.write_text(f'<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>{RUSSIAN_TITLE}</title>'
                            f'<meta property="og:site_name" content="Степной альянс здоровья"></head><body><main><article>'
                            f"<h1>{RUSSIAN_TITLE}</h1>{body}</article></main></body></html>", encoding="utf-8")
        else:
            import docx

            document = docx.Document()
            document.core_properties.title = RUSSIAN_TITLE
            for text, heading in paragraphs:
                if heading:
                    document.add_heading(text, level=1)
                else:
                    document.add_paragraph(text)
            document.save(str(path))
    else:
        raise ValueError(f"no Russian fixture for {suffix}")
    return path


def _unwrap(lines: list[str]) -> str:
    """Lines joined as a typist would have written them (the hyphenated word rejoined)."""
    text = lines[0]
    for line in lines[1:]:
        text = text[:-1] + line if text.endswith("-") and text[-2:-1].islower() else f"{text} {line}"
    return text


# --- damaged files (issue 28): what a parser raises on them must become a one-line refusal -------


def raw_pdf(objects: dict[int, bytes]) -> bytes:
    """A PDF written byte by byte from its numbered objects (1 is the catalog), with a correct
    cross-reference table: for structures no PDF library would write."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    table = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, table)
    return bytes(out)


def _text_page(number: int, parent: int, text: bytes) -> dict[int, bytes]:
    """A page (object `number`) showing `text` in Helvetica, with its content stream and font."""
    content = b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text
    return {
        number: b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (parent, number + 1, number + 2),
        number + 1: b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        number + 2: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }


def make_deep_pdf(path: Path, depth: int = 150) -> Path:
    """A one-page PDF whose page tree nests `depth` /Pages nodes (pypdf stops at 100 levels)."""
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    for level in range(depth):
        number = 2 + level
        parent = b" /Parent %d 0 R" % (number - 1) if level else b""
        objects[number] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1%s >>" % (number + 1, parent)
    objects.update(_text_page(2 + depth, 1 + depth, b"A report whose page tree nests too deep."))
    path.write_bytes(raw_pdf(objects))
    return path


def make_self_referencing_pdf(path: Path) -> Path:
    """A PDF whose page tree node is a stream whose /Length refers to the node itself (pypdf: "Detected
    loop with self reference")."""
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
               2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Length 2 0 R >>\nstream\nx\nendstream",
               **_text_page(3, 2, b"A report that refers to itself.")}
    path.write_bytes(raw_pdf(objects))
    return path


def make_damaged_docx(path: Path) -> Path:
    """A Word file whose word/document.xml holds a deflate block of the reserved type 3: reading it
    fails in zlib ("invalid block type"), not in zipfile's checks."""
    import struct
    import zipfile

    make_docx(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("word/document.xml")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data[info.header_offset + 30 + name_length + extra_length] = 0b111  # BFINAL=1, BTYPE=11 (reserved)
    path.write_bytes(bytes(data))
    return path


def make_deep_sidecar(document: Path, depth: int = 10_000) -> Path:
    """`document`'s metadata sidecar holding an array nested `depth` deep (tomllib: RecursionError)."""
    sidecar = document.with_suffix(".toml")
    sidecar.write_text("title = " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    return sidecar
