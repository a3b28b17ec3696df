"""The `assistant` command: index, ask, serve, eval, add, remove, docs, feedback, operator. Errors are one line on
stderr, exit code 2. What it says to people is in the language of `--lang` (before the command:
`assistant --lang ru ask ...`), else of the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG); what it
prints for programs (`--json`, `feedback export`) never changes with the language.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import AssistantError
from assistant.i18n import N_, UI_LANGUAGES, from_environment, supported
from assistant.languages import LANGUAGES
from assistant.settings import Settings
from assistant.ui import TerminalFormatter, Ui, terminal_line

if TYPE_CHECKING:
    from assistant.query.assistant import Assistant, Rebuild

log = logging.getLogger("assistant")

BOLD, RESET = "\033[1m", "\033[0m"


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. When stdout is a pipe its reader closed (`assistant docs |
    head -1`), stop quietly, as Python's documentation advises (library/signal.html, "Note on
    SIGPIPE"): stdout pointed at /dev/null, so the flush at exit cannot fail again, and the status
    a process ended by SIGPIPE has in a shell, 141."""
    try:
        try:
            status = _run(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at exit, where it could only print a traceback
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return CLOSED_PIPE
    return status


CLOSED_PIPE = 128 + 13
"""The exit status when stdout's reader is gone: 128 + SIGPIPE, as a shell reports a command SIGPIPE ended."""


def _run(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ui = Ui(interface_language(argv))
    parser = _parser(ui)
    args = parser.parse_args(argv)
    args.ui = ui
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    try:
        settings = _settings(args)
        return args.handler(args, settings)
    except AssistantError as error:
        _say_error(ui, error.render(ui.lang))
        return 2
    except BrokenPipeError:
        raise  # stdout's reader is gone: `main` ends quietly (141)
    except OSError as error:  # one the commands did not expect (the changes say what they undid themselves)
        _say_error(ui, ui._("{path}: {reason}; check that file or folder and run the command again").format(
            path=error.filename if error.filename is not None else "?", reason=error.strerror or type(error).__name__))
        return 2
    except KeyboardInterrupt:
        print(ui._("interrupted"), file=sys.stderr)
        return 130


def _say_error(ui: Ui, message: str) -> None:
    """The one line on stderr that says what went wrong (file names in it shown, not obeyed)."""
    print(ui._("error: {message}").format(message=terminal_line(message)), file=sys.stderr)


def interface_language(argv: list[str], environ: dict[str, str] | None = None) -> str:
    """The language of the command's words: `--lang` given before the command, else the
    environment's (gettext's LANGUAGE, LC_ALL, LC_MESSAGES, LANG), else English."""
    for position, arg in enumerate(argv):
        if not arg.startswith("-"):
            break  # the command: options after it are its own (`eval --lang` picks questions)
        value = arg.split("=", 1)[1] if arg.startswith("--lang=") else (
            argv[position + 1] if arg == "--lang" and position + 1 < len(argv) else None)
        if value is not None and supported(value):
            return supported(value)  # type: ignore[return-value]
    return from_environment(environ)


def _parser(ui: Ui) -> argparse.ArgumentParser:
    _ = ui._
    parser = argparse.ArgumentParser(prog="assistant", description=_("Ask questions of a document collection; get cited passages."))
    parser.add_argument("-v", "--verbose", action="store_true", help=_("log progress details to stderr"))
    parser.add_argument("--lang", choices=UI_LANGUAGES, help=_("language of the messages: en, ru or kk (default: from LANGUAGE, LC_ALL, LC_MESSAGES or LANG)"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--corpus", type=Path, help=_("corpus folder (default: ./corpus, or ASSISTANT_CORPUS_DIR)"))
        sub.add_argument("--index", type=Path, help=_("index folder (default: ./index, or ASSISTANT_INDEX_DIR)"))
        sub.set_defaults(handler=handler)
        return sub

    def changes(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--no-wait", action="store_true",
                         help=_("fail at once (exit 2) when another add, remove or index is changing the collection, "
                                "instead of waiting for it"))
        sub.add_argument("--follow-symlinks", action="store_true",
                         help=_("read documents through symbolic links (refused by default)"))

    changes(command("index", _index, _("(Re)build the index from the corpus.")))

    add = command("add", _add, _("Add documents (.txt, .md, .pdf, .html, .docx) to the corpus and update the index."))
    changes(add)
    add.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add.add_argument("--title", help=_("the source's title (default: from the file)"))
    add.add_argument("--publisher", help=_("who published it (default: from the file, e.g. a web page's site name)"))
    add.add_argument("--date", help=_("publication date: YYYY, YYYY-MM or YYYY-MM-DD"))
    add.add_argument("--url", help=_("where the source is published"))

    remove = command("remove", _remove, _("Remove a document (its file and metadata) and update the index."))
    changes(remove)
    remove.add_argument("doc_id", metavar="DOC_ID")
    remove.add_argument("-y", "--yes", action="store_true", help=_("remove without asking for confirmation"))

    docs = command("docs", _docs, _("List the documents in the index: id, title, publisher, year, passages."))
    docs.add_argument("--json", action="store_true", help=_("print the list as JSON"))

    ask = command("ask", _ask, _("Ask a question; print ranked, cited passages (a missing index is built first)."))
    ask.add_argument("question")
    ask.add_argument("--k", type=int, default=None, help=_("how many passages (default 5)"))
    ask.add_argument("--json", action="store_true", help=_("print the answer object as JSON"))
    ask.add_argument("--doc", dest="doc_ids", action="append", metavar="DOC_ID",
                     help=_("answer only from this document (repeat for several)"))
    ask.add_argument("--year-from", type=int, help=_("answer only from sources of this year or later"))
    ask.add_argument("--year-to", type=int, help=_("answer only from sources of this year or earlier"))
    ask.add_argument("--language", choices=LANGUAGES, help=_("answer only from documents in this language"))

    serve = command("serve", _serve, _("Serve the web page and the HTTP API (rebuilds a missing or stale index)."))
    serve.add_argument("--host", help=_("address to bind (default 127.0.0.1: this machine only)"))
    serve.add_argument("--port", type=int, help=_("port (default 8000)"))

    evaluate = command("eval", _eval, _("Measure retrieval over a gold question file."))
    evaluate.add_argument("--gold", type=Path, default=None, help=_("gold JSON Lines file (default eval/gold.jsonl)"))
    evaluate.add_argument("--split", choices=["dev", "test", "all"], default="all")
    evaluate.add_argument("--lang", choices=LANGUAGES, default=None, help=_("only questions in this language"))
    evaluate.add_argument("--kind", default=None, help=_("only questions of this kind (e.g. temporal, number, why; not-temporal: all but temporal)"))
    evaluate.add_argument("--json", action="store_true", help=_("print metrics as JSON"))
    evaluate.add_argument("--beir", type=Path, metavar="DIR", default=None,
                          help=_("BEIR benchmark folder (corpus.jsonl, queries.jsonl, qrels/test.tsv), run in a temporary index"))

    feedback = command("feedback", _feedback, _("Readers' judgements of passages (kept only when ASSISTANT_FEEDBACK=on)."))
    feedback.add_argument("action", choices=["export", "purge"],
                          help=_("export: print the judgements as gold-file lines; purge: delete them all for good"))
    feedback.add_argument("-y", "--yes", action="store_true", help=_("purge without asking for confirmation"))
    feedback.add_argument("--out", type=Path, default=None, help=_("write the lines to this file instead of stdout"))
    feedback.add_argument("--split", choices=["dev", "test"], default="dev", help=_("the split the lines get (default dev)"))

    operator = command("operator", _operator, _("The operator's sign-in, kept in the operator file (ASSISTANT_OPERATOR_FILE, "
                                                 "default ./operator.toml)."))
    operator.add_argument("action", choices=["set-password", "token", "log"],
                          help=_("set-password: store the password (typed twice on a terminal, else read once from "
                                 "standard input); token: print a new bearer token for the API, shown only once; "
                                 "log: print the audit trail of the operator's changes as JSON lines"))
    operator.add_argument("--name", default="token", help=_("the token's name, to tell tokens apart (default: token)"))
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
        from assistant.store.build import recover_if_idle

        recover_if_idle(settings)  # what a killed add/remove/index left (the changing commands do it under the lock)
    return settings


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.embedding import create_embedders
    from assistant.store.build import build_index

    ui: Ui = args.ui
    index = build_index(settings, create_embedders(settings, cached=True), progress=True, wait=not args.no_wait)
    manifest = index.manifest
    print(ui._("indexed {documents} documents into {passages} passages in {seconds} s -> {folder}").format(
        documents=manifest["documents"], passages=manifest["passages"], seconds=f"{manifest['build_seconds']:.1f}",
        folder=settings.index_dir), file=sys.stderr)
    if index.skipped:
        print(ui.n_("{n} file could not be read and is left out of the index (named above; `assistant docs` lists "
                    "it): fix or remove it, then run `assistant index` again",
                    "{n} files could not be read and are left out of the index (named above; `assistant docs` "
                    "lists them): fix or remove them, then run `assistant index` again", len(index.skipped)),
              file=sys.stderr)
    return 0


def _add(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from assistant.store.library import add_documents

    ui: Ui = args.ui
    started = time.perf_counter()
    added, index = add_documents(settings, args.paths, title=args.title, publisher=args.publisher, date=args.date,
                                 url=args.url, progress=True, wait=not args.no_wait)
    for item in added:
        meta, pages = item.document.metadata, len(item.document.pages)
        passages = ui.n_("{n} passage", "{n} passages", item.passages)
        size = ui.n_("{n} page", "{n} pages", pages) + ", " + passages if pages else passages
        print(ui._("added {doc_id}: {title} ({size})").format(doc_id=item.document.doc_id, title=repr(meta.title),
                                                              size=size))
        for warning in item.warnings:
            print(ui._("warning: {message}").format(message=terminal_line(f"{item.document.doc_id}: {warning}")),
                  file=sys.stderr)
    print(ui._("index: {documents}, {passages}, updated in {seconds} s").format(
        documents=ui.n_("{n} document", "{n} documents", index.manifest["documents"]),
        passages=ui.n_("{n} passage", "{n} passages", index.manifest["passages"]),
        seconds=f"{time.perf_counter() - started:.1f}"))
    return 0


YES_WORDS = frozenset({"y", "yes", "д", "да", "и", "иә", "ия"})
"""Answers that confirm `remove` and `feedback purge`, in the three languages (anything else keeps all)."""


def _confirmed(args: argparse.Namespace, question: str, no_terminal: str, **params: str) -> bool:
    """Whether a change that cannot be undone may go ahead: `--yes`, or yes typed on a terminal
    (without one, the one-line `no_terminal` refusal)."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise AssistantError(no_terminal, **params)
    return input(question).strip().lower() in YES_WORDS


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.store.library import remove_document

    ui: Ui = args.ui
    if not _confirmed(args, ui._("Remove {doc_id} from the corpus and the index? [y/N] ").format(doc_id=args.doc_id),
                      N_("remove asks for confirmation, and there is no terminal to ask on: "
                         "run `assistant remove {doc_id} --yes`"), doc_id=args.doc_id):
        print(ui._("kept {doc_id}: nothing removed").format(doc_id=args.doc_id))
        return 1
    index = remove_document(settings, args.doc_id, progress=True, wait=not args.no_wait)
    print(ui._("removed {doc_id}; index: {documents}, {passages}").format(
        doc_id=args.doc_id, documents=ui.n_("{n} document", "{n} documents", index.manifest["documents"]),
        passages=ui.n_("{n} passage", "{n} passages", index.manifest["passages"])))
    return 0


def _docs(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.store.index import load_index
    from assistant.store.library import list_documents

    ui: Ui = args.ui
    index = load_index(settings.index_dir, settings)
    rows = list_documents(settings, index)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        heading = (ui._("ID"), ui._("YEAR"), ui._("PASSAGES"), ui._("TITLE — PUBLISHER"))
        print(f"{heading[0]:<48} {heading[1]:<5} {heading[2]:>8}  {heading[3]}")
        for row in rows:
            source = f"{row['title']} — {row['publisher']}" if row["publisher"] else row["title"]
            print(f"{row['doc_id']:<48} {ui.year_or_nd(row['year']):<5} {row['passages']:>8}  {source}")
    for name, reason in index.skipped:  # files the build could not read: on stderr, so --json stays a list
        print(ui._("left out of the index: {file}: {reason}").format(file=name, reason=reason.render(ui.lang)),
              file=sys.stderr)
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    assistant = _open_assistant(args, settings, "missing")
    answer = assistant.ask(args.question, args.k, doc_ids=args.doc_ids, year_from=args.year_from,
                           year_to=args.year_to, language=args.language)
    if args.json:
        print(answer.model_dump_json(indent=2))
    else:
        print(format_answer(answer, bold=sys.stdout.isatty(), ui=args.ui))
    return 0


def format_answer(answer, *, bold: bool, ui: Ui | None = None) -> str:
    """An answer for a terminal: a refusal says why; how recent its sources are; each passage under
    its citation line (section and page), its highlight in bold on a terminal, with newest/older
    marks; then the change over time, newest first."""
    ui = ui or Ui()
    lines = []
    if answer.abstained:
        message = answer.abstain_message()
        reason = f" ({ui.say(message)})" if message is not None else ""
        lines.append(ui._("These documents do not seem to cover this{reason}.").format(reason=reason))
        lines.append(ui._("The nearest passages:") if answer.results else ui._("No passages found."))
        lines.append("")
    elif answer.missing_note:
        lines += [ui.say(answer.message("missing_note")), ""]
    notes = ui.recency_notes(answer)
    if notes:
        lines += [" ".join(notes), ""]
    for result in answer.results:
        text, h = result.text, result.highlight
        marked = text[: h.start] + (BOLD if bold else "") + text[h.start : h.end] + (RESET if bold else "") + text[h.end :]
        badge = ui.recency_badge(result) if not answer.abstained else None
        lines.append(ui.citation_line(result.rank, result.citation) + (f" ({badge})" if badge else ""))
        lines.append(textwrap.indent(marked, "    "))
        where = "    (" + ui._("score {score}; characters {start}–{end}").format(
            score=f"{result.score:.2f}", start=result.citation.start, end=result.citation.end)
        lines.append(where + (f"; {result.citation.url})" if result.citation.url else ")"))
        lines.append("")
    if not answer.results and not answer.abstained:
        lines.append(ui._("No passages found."))
    if answer.timeline and not answer.abstained:
        lines.append(ui._("How this changed over time") + ":")
        for entry in answer.timeline:
            quote = " ".join(entry.quote.split())
            lines.append(f"  {ui.year_label(entry.citation.year, entry.citation.year_estimate)}: “{quote}” [{entry.rank}]")
    return "\n".join(lines).rstrip() + "\n"


def _feedback(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.feedback import export_gold, gold_lines, purge

    ui: Ui = args.ui
    path = settings.feedback_file
    if args.action == "purge":
        if not _confirmed(args, ui._("Delete every judgement in {path} for good? [y/N] ").format(path=path),
                          N_("purge asks for confirmation, and there is no terminal to ask on: run "
                             "`assistant feedback purge --yes`")):
            print(ui._("nothing deleted"))
            return 1
        count = purge(path)
        print(ui.n_("deleted {n} judgement from", "deleted {n} judgements from", count) + f" {path}")
        return 0
    if not path.is_file():
        raise AssistantError(N_("no feedback yet: {path} does not exist (the server keeps judgements only with "
                                "ASSISTANT_FEEDBACK=on)"), path=str(path))
    text, count = gold_lines(path, args.split), len(export_gold(path, args.split))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    print(ui.n_("{n} gold line from the judgements in", "{n} gold lines from the judgements in", count)
          + f" {path}" + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def _operator(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.operator.credentials import MAX_PASSWORD_CHARS, create_token, set_password

    ui: Ui = args.ui
    path = settings.operator_file
    if args.action == "log":
        from dataclasses import asdict

        from assistant.operator import audit

        for entry in audit.read(settings.operator_audit_file):
            print(json.dumps(asdict(entry), ensure_ascii=False))
        return 0
    if args.action == "token":
        token = create_token(path, args.name)
        print(token)
        print(ui._("the token above is shown only this once: keep it now ({path} holds only its hash)").format(
            path=path), file=sys.stderr)
        return 0
    if sys.stdin.isatty():
        password = getpass.getpass(ui._("Operator password: "))
        if getpass.getpass(ui._("The same password again: ")) != password:
            raise AssistantError(N_("the two passwords differ: nothing changed"))
    else:
        try:
            password = sys.stdin.read(MAX_PASSWORD_CHARS + 3)  # one more than any password and its line ending
        except UnicodeDecodeError:
            raise AssistantError(N_("the password is not valid UTF-8 text")) from None
        password = password[:-2] if password.endswith("\r\n") else password.removesuffix("\n")
    set_password(path, password)
    print(ui._("the operator's password is stored (as a hash) in {path}").format(path=path), file=sys.stderr)
    return 0


def _open_assistant(args: argparse.Namespace, settings: Settings, rebuild: Rebuild) -> Assistant:
    """The index loaded, or built first as `rebuild` says (`ask`: a missing one; `serve`: a missing
    or stale one), saying so on stderr before the build's progress."""
    from assistant.query.assistant import Assistant

    ui: Ui = args.ui

    def building(reasons: list[str]) -> None:
        print(ui._("building the index in {folder} ({reasons})").format(
            folder=settings.index_dir, reasons="; ".join(ui._(reason) for reason in reasons)), file=sys.stderr)

    return Assistant.open(settings, rebuild=rebuild, building=building)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.api import create_app
    from assistant.api.server import serve
    from assistant.query.assistant import use_query_threads

    assistant = _open_assistant(args, settings, "stale")
    use_query_threads(settings, assistant.embedders)
    assistant.warm_up()
    print(args.ui._("serving on {address}").format(address=f"http://{settings.host}:{settings.port}"), file=sys.stderr)
    serve(create_app(assistant), settings)
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    if args.beir:
        from assistant.evaluate.beir import run_beir

        result = run_beir(args.beir, settings, as_json=args.json)
        print(json.dumps(result, indent=2) if args.json else result, end="\n" if args.json else "")
        return 0
    from assistant.evaluate.gold import evaluate, format_report, load_gold

    gold = load_gold(args.gold or settings.gold_file)
    report = evaluate(settings, gold, split=args.split, lang=args.lang, kind=args.kind)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
