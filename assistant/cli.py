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

    command("index", _index, "(Re)build the index from the corpus.")

    ask = command("ask", _ask, "Ask a question; print ranked, cited passages.")
    ask.add_argument("question")
    ask.add_argument("--k", type=int, default=None, help="how many passages (default 5)")
    ask.add_argument("--json", action="store_true", help="print the answer object as JSON")

    serve = command("serve", _serve, "Serve the web page and the HTTP API (rebuilds a missing or stale index).")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="port (default 8000)")

    evaluate = command("eval", _eval, "Measure retrieval over a gold question file.")
    evaluate.add_argument("--gold", type=Path, default=None, help="gold JSON Lines file (default eval/gold.jsonl)")
    evaluate.add_argument("--split", choices=["dev", "test", "all"], default="all")
    evaluate.add_argument("--json", action="store_true", help="print metrics as JSON")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "corpus_dir": getattr(args, "corpus", None),
        "index_dir": getattr(args, "index", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
    }
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from .embedding import Embedder
    from .index import build_index

    index = build_index(settings, Embedder(settings.model_path, settings.embed_batch_size), progress=True)
    manifest = index.manifest
    print(
        f"indexed {manifest['documents']} documents into {manifest['passages']} passages "
        f"in {manifest['build_seconds']:.1f} s -> {settings.index_dir}",
        file=sys.stderr,
    )
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from .pipeline import Assistant, validate_question

    validate_question(args.question, settings.max_question_chars)
    answer = Assistant.open(settings).ask(args.question, args.k)
    if args.json:
        print(answer.model_dump_json(indent=2))
    else:
        print(format_answer(answer, bold=sys.stdout.isatty()))
    return 0


def citation_line(rank: int, citation) -> str:
    """`[1] Title — Publisher, year · section`, the way a reader cites a source."""
    year = str(citation.year) if citation.year else "n.d."
    source = f"{citation.title} — {citation.publisher}, {year}" if citation.publisher else f"{citation.title}, {year}"
    return f"[{rank}] {source}" + (f" · {citation.section}" if citation.section else "")


def format_answer(answer, *, bold: bool) -> str:
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
    use_query_threads(settings)
    print(f"serving on http://{settings.host}:{settings.port}", file=sys.stderr)
    uvicorn.run(create_app(assistant), host=settings.host, port=settings.port, access_log=False, log_level="warning")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluation import evaluate, format_report, load_gold

    gold = load_gold(args.gold or settings.gold_file)
    report = evaluate(settings, gold, split=args.split)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
