"""The `assistant` command: index, ask, serve, eval. Errors are one line on stderr, exit code 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path

from .errors import AssistantError
from .settings import Settings

log = logging.getLogger("assistant")

BOLD, RESET = "\033[1m", "\033[0m"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s",
                        stream=sys.stderr)
    try:
        settings = _settings(args)
        return args.handler(args, settings)
    except AssistantError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Ask questions of a document collection; get cited passages.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--corpus", type=Path, help="corpus folder (default: ./corpus, or ASSISTANT_CORPUS_DIR)")
        sub.add_argument("--index", type=Path, help="index folder (default: ./index, or ASSISTANT_INDEX_DIR)")
        sub.set_defaults(handler=handler)
        return sub

    def changes(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--no-wait", action="store_true",
                         help="fail at once (exit 2) when another add, remove or index is changing the collection, "
                              "instead of waiting for it")
        sub.add_argument("--follow-symlinks", action="store_true",
                         help="read documents through symbolic links (refused by default)")

    changes(command("index", _index, "(Re)build the index from the corpus."))

    add = command("add", _add, "Add documents (.txt, .md, .pdf, .html, .docx) to the corpus and update the index.")
    changes(add)
    add.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add.add_argument("--title", help="the source's title (default: from the file)")
    add.add_argument("--publisher", help="who published it (default: from the file, e.g. a web page's site name)")
    add.add_argument("--date", help="publication date: YYYY, YYYY-MM or YYYY-MM-DD")
    add.add_argument("--url", help="where the source is published")

    remove = command("remove", _remove, "Remove a document (its file and metadata) and update the index.")
    changes(remove)
    remove.add_argument("doc_id", metavar="DOC_ID")

    docs = command("docs", _docs, "List the documents in the index: id, title, publisher, year, passages.")
    docs.add_argument("--json", action="store_true", help="print the list as JSON")

    ask = command("ask", _ask, "Ask a question; print ranked, cited passages.")
    ask.add_argument("question")
    ask.add_argument("--k", type=int, default=None, help="how many passages (default 5)")
    ask.add_argument("--json", action="store_true", help="print the answer object as JSON")
    ask.add_argument("--doc", dest="doc_ids", action="append", metavar="DOC_ID",
                     help="answer only from this document (repeat for several)")
    ask.add_argument("--year-from", type=int, help="answer only from sources of this year or later")
    ask.add_argument("--year-to", type=int, help="answer only from sources of this year or earlier")
    ask.add_argument("--language", choices=["en", "ru", "kk"], help="answer only from documents in this language")

    serve = command("serve", _serve, "Serve the web page and the HTTP API (rebuilds a missing or stale index).")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="port (default 8000)")

    evaluate = command("eval", _eval, "Measure retrieval over a gold question file.")
    evaluate.add_argument("--gold", type=Path, default=None, help="gold JSON Lines file (default eval/gold.jsonl)")
    evaluate.add_argument("--split", choices=["dev", "test", "all"], default="all")
    evaluate.add_argument("--lang", choices=["en", "ru", "kk"], default=None, help="only questions in this language")
    evaluate.add_argument("--kind", default=None, help="only questions of this kind (e.g. temporal, number, why)")
    evaluate.add_argument("--json", action="store_true", help="print metrics as JSON")
    evaluate.add_argument("--beir", type=Path, metavar="DIR", default=None,
                          help="BEIR benchmark folder (corpus.jsonl, queries.jsonl, qrels/test.tsv), run in a temporary index")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "corpus_dir": getattr(args, "corpus", None),
        "index_dir": getattr(args, "index", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "follow_symlinks": getattr(args, "follow_symlinks", None) or None,
    }
    settings = Settings(**{key: value for key, value in overrides.items() if value is not None})
    if args.command in ("ask", "docs", "serve"):
        from .index import recover_if_idle

        recover_if_idle(settings)  # what a killed add/remove/index left (the changing commands do it under the lock)
    return settings


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from .embedding import create_embedders
    from .index import build_index

    index = build_index(settings, create_embedders(settings, cached=True), progress=True, wait=not args.no_wait)
    manifest = index.manifest
    print(
        f"indexed {manifest['documents']} documents into {manifest['passages']} passages "
        f"in {manifest['build_seconds']:.1f} s -> {settings.index_dir}",
        file=sys.stderr,
    )
    return 0


def _add(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from .library import add_documents

    started = time.perf_counter()
    added, index = add_documents(settings, args.paths, title=args.title, publisher=args.publisher, date=args.date,
                                 url=args.url, progress=True, wait=not args.no_wait)
    for item in added:
        meta, pages = item.document.metadata, len(item.document.pages)
        size = f"{pages} pages, {item.passages} passages" if pages else f"{item.passages} passages"
        print(f"added {item.document.doc_id}: {meta.title!r} ({size})", file=sys.stderr)
        for warning in item.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    print(f"index: {index.manifest['documents']} documents, {index.manifest['passages']} passages, "
          f"updated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from .library import remove_document

    index = remove_document(settings, args.doc_id, progress=True, wait=not args.no_wait)
    print(f"removed {args.doc_id}; index: {index.manifest['documents']} documents, {index.manifest['passages']} passages",
          file=sys.stderr)
    return 0


def _docs(args: argparse.Namespace, settings: Settings) -> int:
    from .library import list_documents

    rows = list_documents(settings)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(f"{'ID':<48} {'YEAR':<5} {'PASSAGES':>8}  TITLE — PUBLISHER")
    for row in rows:
        source = f"{row['title']} — {row['publisher']}" if row["publisher"] else row["title"]
        print(f"{row['doc_id']:<48} {str(row['year'] or 'n.d.'):<5} {row['passages']:>8}  {source}")
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from .pipeline import Assistant

    answer = Assistant.open(settings).ask(args.question, args.k, doc_ids=args.doc_ids, year_from=args.year_from,
                                          year_to=args.year_to, language=args.language)
    if args.json:
        print(answer.model_dump_json(indent=2))
    else:
        print(format_answer(answer, bold=sys.stdout.isatty()))
    return 0


def format_answer(answer, *, bold: bool) -> str:
    from .answer import citation_line

    lines = []
    if answer.abstained:
        lines.append("These documents do not seem to cover this. The nearest passages:\n")
    for result in answer.results:
        text, h = result.text, result.highlight
        marked = text[: h.start] + (BOLD if bold else "") + text[h.start : h.end] + (RESET if bold else "") + text[h.end :]
        lines.append(citation_line(result.rank, result.citation))
        lines.append(textwrap.indent(marked, "    "))
        where = f"    (score {result.score:.2f}; characters {result.citation.start}–{result.citation.end}"
        lines.append(where + (f"; {result.citation.url})" if result.citation.url else ")"))
        lines.append("")
    if not answer.results:
        lines.append("No passages found.")
    return "\n".join(lines).rstrip() + "\n"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .api import create_app
    from .pipeline import Assistant, use_query_threads

    assistant = Assistant.open(settings, rebuild="stale")
    use_query_threads(settings, assistant.embedders)
    print(f"serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    uvicorn.run(create_app(assistant), host=settings.host, port=settings.port, access_log=False, log_level="warning")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    if args.beir:
        from .beir import run_beir

        result = run_beir(args.beir, settings, as_json=args.json)
        print(json.dumps(result, indent=2) if args.json else result, end="\n" if args.json else "")
        return 0
    from .evaluation import evaluate, format_report, load_gold

    gold = load_gold(args.gold or settings.gold_file)
    report = evaluate(settings, gold, split=args.split, lang=args.lang, kind=args.kind)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
