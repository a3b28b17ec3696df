"""Time `assistant add` of a 50-page PDF to an indexed corpus, and `assistant remove` of it.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/add_pdf_timing.py [--pages 50] [--keep DIR]

Works on a copy of corpus/ in a temporary folder (the real corpus and index are not touched):
1. index the copy (`assistant index`, which fills the embedding cache, as on any set-up);
2. make a PDF of `--pages` pages with fpdf2: seed-document paragraphs, wrapped by the layout, with
   a running header and page numbers. Every sentence gets a distinct "(report n.m)" tag, so none
   of its text is already in the embedding cache: the new document is embedded in full;
3. run `assistant add` on it and `assistant remove` as subprocesses (wall time a user sees: start-up,
   model load, extraction, embedding of the new text only, index rebuild and switch);
4. for comparison, a full rebuild from scratch with no embedding cache.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.embedding import create_embedders  # noqa: E402
from assistant.ingest.formats import extract  # noqa: E402
from assistant.store.build import build_index  # noqa: E402
from assistant.store.index import load_index  # noqa: E402
from assistant.settings import Settings  # noqa: E402

ASSISTANT = [str(REPO / ".venv" / "bin" / "assistant")]


def seed_paragraphs() -> list[str]:
    paragraphs = []
    for path in sorted((REPO / "corpus").glob("*.txt")):
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            block = " ".join(block.split())
            if len(block) >= 200:
                paragraphs.append(block)
    return paragraphs


def tagged(paragraph: str, number: int) -> str:
    """Each sentence with a distinct tag, so the text is new to the embedding cache."""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", paragraph)
    return " ".join(f"{s.rstrip('.')} (report {number}.{i})." for i, s in enumerate(sentences, start=1))


def make_pdf(path: Path, pages: int) -> int:
    from fpdf import FPDF

    class Report(FPDF):
        def header(self):
            self.set_font("Helvetica", size=8)
            self.cell(0, 8, "Sex work, HIV prevention and trafficking law in Kazakhstan - collected reports",
                      align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(2)

        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, str(self.page_no()), align="C")

    pdf = Report()
    pdf.set_title("Collected reports on sex work and HIV prevention in Kazakhstan")
    pdf.set_author("Timing script")
    pdf.set_font("Helvetica", size=10)
    pdf.add_page()
    paragraphs, number = seed_paragraphs(), 0
    while pdf.page_no() < pages or pdf.get_y() < 230:
        text = tagged(paragraphs[number % len(paragraphs)], number + 1)
        text = text.translate(str.maketrans("‘’“”–—•", "''\"\"--*"))
        pdf.multi_cell(0, 5, text.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        number += 1
        if pdf.page_no() > pages:
            break
    pdf.output(str(path))
    return pdf.page_no()


def run(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([*ASSISTANT, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return elapsed, done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="add-pdf-timing-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus, index = work / "corpus", work / "index"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    shutil.copytree(REPO / "corpus", corpus)
    where = ["--corpus", str(corpus), "--index", str(index)]

    seconds, _ = run("index", *where)
    print(f"initial `assistant index` of {len(list(corpus.glob('*.txt')))} seed documents: {seconds:.1f} s")

    pdf = work / "collected-reports.pdf"
    pages = make_pdf(pdf, args.pages)
    started = time.perf_counter()
    extracted = extract(pdf, pdf.read_bytes(), Settings().extraction_limits)
    print(f"PDF: {pages} pages, {pdf.stat().st_size / 1024:.0f} KiB, {len(extracted.raw):,} characters; "
          f"text extraction alone {time.perf_counter() - started:.2f} s")

    seconds, line = run("add", str(pdf), "--publisher", "Timing script", "--date", "2024", *where)
    loaded = load_index(index)
    passages = [p for p in loaded.passages if p.doc_id == "collected-reports"]
    sentences = sum(len(p.sentences) for p in passages)
    print(f"`assistant add collected-reports.pdf`: {seconds:.1f} s wall -> {len(passages)} passages, {sentences} sentences"
          f" ({line})")

    seconds, line = run("remove", "collected-reports", *where)
    print(f"`assistant remove collected-reports`: {seconds:.1f} s wall ({line})")
    seconds, line = run("add", str(pdf), "--publisher", "Timing script", "--date", "2024", *where)
    print(f"`assistant add` again (its vectors now cached): {seconds:.1f} s wall")

    settings = Settings(corpus_dir=corpus, index_dir=work / "full-index")
    started = time.perf_counter()
    full = build_index(settings, create_embedders(settings), progress=False)
    print(f"for comparison, a full rebuild with no embedding cache (in-process, model load included): "
          f"{time.perf_counter() - started:.1f} s, {full.manifest['passages']} passages")
    print(f"work folder: {work}" + ("" if args.keep else " (temporary)"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
