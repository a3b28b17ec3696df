"""Reading a document costs time in proportion to its size (issue 28); writes eval/ingest_bench.md.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/ingest_bench.py [--runs 3] [--no-limits] [--out eval/ingest_bench.md]

Part of `make bench` (`make bench-ingest` runs it alone; about three minutes on 2 cores). Every input
is made here, none is committed:
1. one paragraph of text, hard-wrapped, with no blank line and no full stop (what made cleaning
   quadratic, 48.7 s for 117 KB, and passages unbounded, 29,443 characters in one): 0.125, 0.25,
   0.5 and 1 MB;
2. PDFs of 125, 250, 500 and 1,000 pages of prose from the corpus, each page with a running header
   and a page number (written directly: fpdf2 takes minutes for 1,000 pages);
3. with --limits (the default), one document at each of Settings' size limits (a 10 MB text, a
   2,000-page PDF, a 5 MB web page): what the time budget, `max_document_seconds`, must allow;
4. 200 two-line documents read in this process, through one worker process for the batch (how the
   budget is held: reader.py), and in a new process each (a fork server's child per document, the
   alternative): what holding every document to a budget costs a corpus.
Each is read as `assistant add` and `index` read it: extracted, cleaned and cut into passages, in this
process (`reader.read_here`, best of --runs, with the three steps timed apart) and once through the
worker process that holds it to the time budget (`reader.DocumentReader`). The proportionality
figure is the seconds per unit (MB, 100 pages) of the largest input over that of the smallest: 1
when the cost is proportional to the size, 8 when it is quadratic over this 8x range.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import platform
import re
import sys
import tempfile
import textwrap
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.ingest.chunking import chunk_document  # noqa: E402
from assistant.ingest.cleaning import clean  # noqa: E402
from assistant.ingest.formats import extract  # noqa: E402
from assistant.ingest.reader import DocumentReader, read_here  # noqa: E402
from assistant.settings import Settings  # noqa: E402

TEXT_MB = [0.125, 0.25, 0.5, 1.0]
PDF_PAGES = [125, 250, 500, 1000]
LINE = "Peer outreach workers visited saunas and hotels in Almaty and offered rapid tests to the women there\n"
HEADER = "Collected reports on sex work, HIV prevention and trafficking law in Kazakhstan"


def machine() -> str:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    return f"{os.cpu_count()} cores ({cpu}), load average at start {' '.join(f'{x:.1f}' for x in os.getloadavg())}"


# --- inputs ---------------------------------------------------------------------------------------


def paragraph(path: Path, megabytes: float) -> Path:
    """One hard-wrapped paragraph of `megabytes`: no blank line, no sentence punctuation."""
    path.write_text(LINE * round(megabytes * 1e6 / len(LINE)), encoding="utf-8")
    return path


def corpus_lines(width: int = 95) -> list[str]:
    """The corpus's paragraphs wrapped as a page prints them, in Latin-1 (the PDF's standard font)."""
    lines: list[str] = []
    for source in sorted((ROOT / "corpus").glob("*.txt")):
        for block in re.split(r"\n\s*\n", source.read_text(encoding="utf-8")):
            text = " ".join(block.split()).translate(str.maketrans("‘’“”–—•", "''\"\"--*"))
            text = text.encode("latin-1", "replace").decode("latin-1")
            if len(text) >= 80:
                lines.extend(textwrap.wrap(text, width))
                lines.append("")
    return lines


def pdf(path: Path, pages: int, lines: list[str], per_page: int = 52) -> Path:
    """A PDF of `pages` pages of `lines` (Helvetica 10 pt, compressed content streams), each with a
    running header and its page number, written object by object."""
    def string(text: str) -> bytes:
        return b"(" + text.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

    objects: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
                                 3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"}
    kids = []
    for page in range(pages):
        body = [lines[(page * per_page + row) % len(lines)] for row in range(per_page)]
        ops = [b"BT /F1 8 Tf 50 810 Td " + string(HEADER) + b" Tj ET", b"BT /F1 10 Tf 12 TL 50 780 Td"]
        ops += [string(line) + b" Tj T*" for line in body]
        ops += [b"ET", b"BT /F1 8 Tf 290 30 Td " + string(str(page + 1)) + b" Tj ET"]
        content = zlib.compress(b"\n".join(ops))
        number = 4 + 2 * page
        objects[number] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                           b"/Resources << /Font << /F1 3 0 R >> >> >>" % (number + 1))
        objects[number + 1] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content)
        kids.append(b"%d 0 R" % number)
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), pages)
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    table, size = len(out), max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size + b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, size))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, table)
    path.write_bytes(bytes(out))
    return path


def web_page(path: Path, megabytes: float) -> Path:
    """A web page of `megabytes`: a heading and numbered paragraphs of prose in an article."""
    paragraph_html = "<p>" + LINE.strip() + ", and this was visit number {} of the year.</p>\n"
    count = round(megabytes * 1e6 / len(paragraph_html.format(1000)))
    body = "".join(paragraph_html.format(number) for number in range(count))
    path.write_text(f"<!DOCTYPE html><html><head><title>Outreach visits</title></head><body><main><article>"
                    f"<h1>Outreach visits</h1>{body}</article></main></body></html>", encoding="utf-8")
    return path


# --- timing ---------------------------------------------------------------------------------------


def timed(path: Path, settings: Settings, runs: int) -> dict:
    """Best of `runs` of the whole read in this process, the three steps of the best run's kind
    timed apart once, and one read through the worker process."""
    limits = dataclasses.replace(settings.extraction_limits, max_document_seconds=3600)
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        read = read_here(path, limits, settings.chunk_sizes)
        best = min(best, time.perf_counter() - started)
    data = path.read_bytes()
    started = time.perf_counter()
    extracted = extract(path, data, limits)
    extracted_at = time.perf_counter()
    clean(extracted.raw, markdown=extracted.markdown)
    cleaned_at = time.perf_counter()
    chunk_document(read.document, *settings.chunk_sizes)
    chunked_at = time.perf_counter()
    warm = path.with_name("warm-up.txt")
    warm.write_text("Warm-up\n\nThe worker is started and has read a document.\n", encoding="utf-8")
    with DocumentReader(limits, settings.chunk_sizes) as reader:
        reader.read(warm)  # started and warm, as for the second document of a batch
        started_worker = time.perf_counter()
        through_worker = reader.read(path)
        worker = time.perf_counter() - started_worker
    assert through_worker == read
    return {"file": path.name, "bytes": len(data), "characters": len(read.document.text),
            "pages": len(read.document.pages), "passages": len(read.passages),
            "longest_passage": max(len(p.text) for p in read.passages), "seconds": best,
            "extract": extracted_at - started, "clean": cleaned_at - extracted_at, "chunk": chunked_at - cleaned_at,
            "worker": worker}


def batch_costs(folder: Path, settings: Settings, count: int = 200) -> dict:
    """Milliseconds a document, for `count` small documents with sidecars: in this process, through one
    worker for the batch (and what starting it costs), and in a new process each."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    limits = dataclasses.replace(settings.extraction_limits, max_document_seconds=3600)
    folder.mkdir()
    paths = []
    for number in range(count):
        path = folder / f"note-{number}.txt"
        path.write_text(f"Note {number}\n\nThe clinic on street {number} tests for free.\n", encoding="utf-8")
        path.with_suffix(".toml").write_text(f'title = "Note {number}"\npublisher = "Clinic"\ndate = "2024"\n',
                                             encoding="utf-8")
        paths.append(path)
    started = time.perf_counter()
    for path in paths:
        read_here(path, limits, settings.chunk_sizes)
    here = time.perf_counter() - started
    started = time.perf_counter()
    with DocumentReader(limits, settings.chunk_sizes) as reader:
        reader.read(paths[0])
        first = time.perf_counter() - started
        started = time.perf_counter()
        for path in paths:
            reader.read(path)
        worker = time.perf_counter() - started
    context = get_context("forkserver")
    context.set_forkserver_preload(["assistant.ingest.reader", "assistant.settings"])  # the alternative at its best
    pool = ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=1)
    with pool:
        pool.submit(read_here, paths[0], limits, settings.chunk_sizes).result()  # the fork server started
        started = time.perf_counter()
        for path in paths:
            pool.submit(read_here, path, limits, settings.chunk_sizes).result()
        each = time.perf_counter() - started
    return {"documents": count, "here_ms": here / count * 1000, "worker_ms": worker / count * 1000,
            "worker_start_s": first, "process_each_ms": each / count * 1000}


def proportionality(rows: list[dict], unit) -> float:
    """Seconds per unit of the largest input over that of the smallest."""
    return (rows[-1]["seconds"] / unit(rows[-1])) / (rows[0]["seconds"] / unit(rows[0]))


# --- the report -----------------------------------------------------------------------------------


def table(rows: list[dict], size, per: str, per_unit) -> list[str]:
    lines = [f"| input | size | characters | passages (longest) | seconds | {per} | extract / clean / chunk s "
             "| through the worker s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['file']} | {size(row)} | {row['characters']:,} | {row['passages']:,} "
                     f"({row['longest_passage']:,}) | {row['seconds']:.2f} | {row['seconds'] / per_unit(row):.3f} "
                     f"| {row['extract']:.2f} / {row['clean']:.2f} / {row['chunk']:.2f} | {row['worker']:.2f} |")
    return lines


def report(result: dict, runs: int) -> str:
    tag = f"{os.cpu_count()} cores, {result['started'][:10]}"
    text, pdfs = result["text"], result["pdf"]
    lines = [
        "# Reading documents: time against size (issue 28)", "",
        f"Generated by `make bench-ingest` (`python eval/ingest_bench.py --runs {runs}`, also part of `make bench`) "
        f"on {result['started']}; machine: {result['machine']}. Seconds are the best of {runs} reads in one process "
        "(extraction, cleaning and cutting into passages, as `assistant add` and `index` read a document); the steps "
        "are timed apart once (extraction includes checking the text); the last column is one read through the worker "
        "process that holds each document to `max_document_seconds` (bytes in, passages out).", "",
        f"## One paragraph of text, no blank line and no full stop [{tag}]", "",
        *table(text, lambda r: f"{r['bytes'] / 1e6:.3f} MB", "s per MB", lambda r: r["bytes"] / 1e6), "",
        f"Seconds per MB, largest over smallest: **{result['text_proportionality']:.2f}** (1: proportional to the size; "
        "8: quadratic over this 8x range).", "",
        f"## PDF pages of prose [{tag}]", "",
        *table(pdfs, lambda r: f"{r['pages']:,} pages, {r['bytes'] / 1e6:.1f} MB", "s per 100 pages",
               lambda r: r["pages"] / 100), "",
        f"Seconds per 100 pages, largest over smallest: **{result['pdf_proportionality']:.2f}**; per MB of text, "
        f"{result['pdf_per_mb']:.2f} s.", "",
    ]
    costs = result["batch"]
    lines += [f"## What the time budget costs a corpus [{tag}]", "",
              f"{costs['documents']} documents of two lines with their sidecars, milliseconds a document:", "",
              "| read | ms a document |", "| --- | --- |",
              f"| in this process (no budget: `max_document_seconds = 0`) | {costs['here_ms']:.2f} |",
              f"| through one worker process for the batch (reader.py; starting it took "
              f"{costs['worker_start_s']:.2f} s) | {costs['worker_ms']:.2f} |",
              f"| in a new process each (a child of a fork server that has imported the package) | "
              f"{costs['process_each_ms']:.2f} |", ""]
    if result.get("limits"):
        lines += [f"## At the size limits (`Settings`): what the time budget must allow [{tag}]", "",
                  *table(result["limits"], lambda r: f"{r['bytes'] / 1e6:.1f} MB", "s per MB", lambda r: r["bytes"] / 1e6),
                  "", f"The slowest took {max(r['seconds'] for r in result['limits']):.1f} s; "
                  f"`max_document_seconds` is {result['budget']:g} s.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-limits", dest="limits", action="store_false", help="leave out the inputs at the limits")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "ingest_bench.md")
    args = parser.parse_args()
    logging.getLogger("assistant").setLevel(logging.ERROR)  # "no metadata" for every input made here
    settings = Settings()
    result: dict = {"started": datetime.now(UTC).isoformat(timespec="minutes"), "machine": machine(),
                    "budget": settings.max_document_seconds}
    lines = corpus_lines()
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as folder:
        work = Path(folder)
        result["text"] = []
        for megabytes in TEXT_MB:
            print(f"text {megabytes} MB ...", file=sys.stderr, flush=True)
            result["text"].append(timed(paragraph(work / f"paragraph-{megabytes:g}mb.txt", megabytes), settings, args.runs))
        result["pdf"] = []
        for pages in PDF_PAGES:
            print(f"pdf {pages} pages ...", file=sys.stderr, flush=True)
            result["pdf"].append(timed(pdf(work / f"report-{pages}-pages.pdf", pages, lines), settings, args.runs))
        print("batch costs ...", file=sys.stderr, flush=True)
        result["batch"] = batch_costs(work / "notes", settings)
        if args.limits:
            print("at the limits ...", file=sys.stderr, flush=True)
            result["limits"] = [
                timed(paragraph(work / "limit-text.txt", settings.max_text_bytes / 1e6 * 0.99), settings, 1),
                timed(pdf(work / "limit-pdf.pdf", settings.max_pdf_pages, lines), settings, 1),
                timed(web_page(work / "limit-page.html", settings.max_html_bytes / 1e6 * 0.99), settings, 1),
            ]
    result["text_proportionality"] = proportionality(result["text"], lambda r: r["bytes"])
    result["pdf_proportionality"] = proportionality(result["pdf"], lambda r: r["pages"])
    largest = result["pdf"][-1]
    result["pdf_per_mb"] = largest["seconds"] / (largest["characters"] / 1e6)
    args.out.write_text(report(result, args.runs))
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
