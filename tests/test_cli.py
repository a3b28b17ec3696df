"""End-to-end tests of the `assistant` command, run as a real process."""

import io
import json
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys

import pytest
from conftest import CORPUS, REPO

from assistant.answer.abstain import partly_answered
from assistant.answer.asked import PARTS_BY_NAME
from assistant.answer.model import Answer
from assistant.cli import format_answer, main
from assistant.ui import TerminalFormatter, Ui


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def index_env(index, settings) -> dict:
    return {"ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_INDEX_DIR": str(settings.index_dir)}


def test_ask_json_prints_the_answer_object_of_the_contract(index_env):
    result = run("ask", "When was sex work decriminalised in Kazakhstan?", "--k", "3", "--json", env=index_env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {"question", "abstained", "abstain_reason", "sources_span", "results", "language"} <= set(answer)
    assert answer["abstained"] is False
    assert [r["rank"] for r in answer["results"]] == [1, 2, 3]
    first = answer["results"][0]
    assert {"rank", "score", "text", "highlight", "citation"} <= set(first)
    assert {"start", "end"} == set(first["highlight"])
    assert {"doc_id", "title", "publisher", "date", "url", "start", "end"} <= set(first["citation"])
    assert any("2001" in r["text"] for r in answer["results"])


def test_ask_prints_readable_cited_passages(index_env):
    result = run("ask", "How many friendly cabinets are there nationwide?", "--k", "3", env=index_env)
    assert result.returncode == 0, result.stderr
    # First how recent the sources are (2012 data is old enough to say so), then the passages.
    assert result.stdout.startswith("These sources run to 2012. This information is from 2012 and may have changed.\n\n[1] ")
    citation = "[{}] HIV Prevention Report Card for Sex Workers: Kazakhstan — International Planned Parenthood Federation (IPPF), with SWAN and UNFPA, 2012 · PREVENTION COMPONENT 2 / AVAILABILITY OF SERVICES / KEY POINTS"
    assert any(citation.format(rank) in result.stdout for rank in (1, 2, 3)), result.stdout
    assert "33 friendly cabinets" in result.stdout
    assert "\033[1m" not in result.stdout  # bold only on a terminal


def test_bad_input_is_one_line_on_stderr_with_exit_code_2(tmp_path, index_env):
    cases = [
        (("ask", "   "), index_env, "question is empty"),
        (("docs", "--index", str(tmp_path / "none")), index_env, "no index"),  # `ask` builds a missing one
        (("index", "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "i")), {}, "does not exist"),
    ]
    for args, env, message in cases:
        result = run(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.models  # builds an index of a real corpus with the real models
def test_an_unreadable_document_is_left_out_of_the_build_and_named(tmp_path, capsys, caplog):
    """Issue 28: one bad file no longer stops the build of the rest (nor `serve`'s start): it is left
    out, named, and the index is up to date for the corpus as it is."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    assert main(["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 0
    (corpus / "broken.txt").write_bytes(b"\xff\xfe\x00 not text")
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        assert main(["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 0
    assert f"skipped broken.txt: {corpus / 'broken.txt'} is not UTF-8 text (byte 0)" in caplog.text
    assert capsys.readouterr().err.splitlines()[-1].startswith("1 file could not be read and is left out of the index")
    assert main(["ask", "HIV testing", "--corpus", str(corpus), "--index", str(tmp_path / "index"), "--json"]) == 0


@pytest.mark.models  # builds an index of a real corpus with the real models
def test_ask_on_a_stale_index_says_so(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    assert main(["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 0
    (corpus / "extra.txt").write_text("Extra\n\nA new note on outreach.\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["ask", "outreach", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 2
    assert "out of date" in capsys.readouterr().err


# Languages, refusals, add/remove reports ---------------------------------------------------------

ENGLISH = {"LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": "C.UTF-8"}
OUT_OF_SCOPE = "Is prostitution legal in Germany?"


def test_a_refusal_says_why(index_env):
    result = run("ask", OUT_OF_SCOPE, "--k", "2", env={**index_env, **ENGLISH})
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()[:2]
    assert re.fullmatch(r"These documents do not seem to cover this \(the documents do not mention germany\)\.", first,
                        flags=re.I), first
    assert second == "The nearest passages:"
    assert "[1] " in result.stdout and "[2] " in result.stdout


def test_lang_option_and_environment_choose_the_language_of_the_words(index_env):
    russian = run("--lang", "ru", "ask", OUT_OF_SCOPE, "--k", "2", env={**index_env, **ENGLISH})
    assert russian.returncode == 0, russian.stderr
    assert russian.stdout.startswith("Похоже, в этих документах об этом ничего нет (в документах не упоминается: ")
    assert "Ближайшие отрывки:" in russian.stdout and "оценка " in russian.stdout
    kazakh = run("ask", "   ", env={**index_env, **ENGLISH, "LANG": "kk_KZ.UTF-8"})
    assert kazakh.returncode == 2 and kazakh.stderr.strip().startswith("қате: сұрақ бос")
    assert len(kazakh.stderr.strip().splitlines()) == 1
    language = run("ask", "   ", env={**index_env, **ENGLISH, "LANGUAGE": "ru:en"})
    assert language.stderr.startswith("ошибка: вопрос пустой")
    override = run("--lang", "en", "ask", "   ", env={**index_env, **ENGLISH, "LANG": "ru_RU.UTF-8"})
    assert override.stderr.startswith("error: the question is empty")
    help_text = run("--lang", "kk", "ask", "--help", env=ENGLISH)
    assert help_text.returncode == 0 and "неше үзінді (әдепкісі 5)" in help_text.stdout
    assert run("--lang", "de", "docs", env=ENGLISH).returncode == 2


def test_json_output_does_not_change_with_the_language(index_env):
    english = run("ask", OUT_OF_SCOPE, "--json", env={**index_env, **ENGLISH})
    russian = run("--lang", "ru", "ask", OUT_OF_SCOPE, "--json", env={**index_env, **ENGLISH, "LANG": "ru_RU.UTF-8"})
    assert english.returncode == russian.returncode == 0
    assert json.loads(english.stdout) == json.loads(russian.stdout)
    assert json.loads(english.stdout)["abstain_reason"].startswith("the documents do not mention")


def test_eval_keeps_its_own_lang_option():
    from assistant.cli import interface_language

    assert interface_language(["eval", "--lang", "ru"], {}) == "en"
    assert interface_language(["--lang", "kk", "eval", "--lang", "ru"], {}) == "kk"
    assert interface_language(["--lang=ru", "docs"], {"LANG": "kk_KZ"}) == "ru"
    assert interface_language(["-v", "docs"], {"LANG": "kk_KZ"}) == "kk"


class Terminal(io.StringIO):
    """Typed answers, on what looks like a terminal."""

    def isatty(self) -> bool:
        return True


def small_corpus(corpus):
    """Two one-line reports, titled and dated (no publisher), in a new folder `corpus`."""
    corpus.mkdir()
    for name, text in [("alpha", "Outreach workers in Almaty hand out condoms and rapid HIV test kits."),
                       ("beta", "The shelter in Karaganda takes in survivors of trafficking for ninety days.")]:
        (corpus / f"{name}.txt").write_text(f"{name.title()} report\n\n{text}\n", encoding="utf-8")
        (corpus / f"{name}.toml").write_text(f'title = "{name.title()} report"\ndate = "2020"\n', encoding="utf-8")
    return corpus


@pytest.fixture
def small_library(tmp_path, monkeypatch):
    for name, value in ENGLISH.items():
        monkeypatch.setenv(name, value)
    corpus = small_corpus(tmp_path / "corpus")
    paths = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert main(["index", *paths]) == 0
    return paths, corpus


@pytest.mark.models  # small_library builds an index with the real models
def test_add_and_remove_report_on_stdout_and_remove_asks_first(small_library, tmp_path, monkeypatch, capsys):
    paths, corpus = small_library
    new = tmp_path / "gamma.txt"
    new.write_text("Gamma report\n\nA lawyer answers questions about the 2024 law by telephone.\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["add", str(new), "--title", "Gamma report", "--date", "2024", *paths]) == 0
    out = capsys.readouterr().out
    assert "added gamma: 'Gamma report' (1 passage)" in out and "index: 3 documents, " in out

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert main(["remove", "alpha", *paths]) == 1
    out = capsys.readouterr().out
    assert "Remove alpha from the corpus and the index? [y/N] " in out and "kept alpha: nothing removed" in out
    assert (corpus / "alpha.txt").exists()

    monkeypatch.setattr("sys.stdin", Terminal("да\n"))
    assert main(["--lang", "ru", "remove", "alpha", *paths]) == 0
    out = capsys.readouterr().out
    assert "Удалить alpha из корпуса и индекса? [д/Н] " in out and "удалён alpha; индекс: 2 документа, " in out
    assert not (corpus / "alpha.txt").exists()

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, and no --yes: refuse, change nothing
    assert main(["remove", "gamma", *paths]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: remove asks for confirmation, and there is no terminal to ask on: "
                   "run `assistant remove gamma --yes`"]
    assert (corpus / "gamma.txt").exists()

    assert main(["remove", "gamma", "--yes", *paths]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("removed gamma; index: 1 document, ") and not (corpus / "gamma.txt").exists()


@pytest.mark.models  # small_library builds an index with the real models
def test_add_takes_files_named_in_russian_and_kazakh(small_library, tmp_path, capsys):
    """Before (issue 28): refused, "cannot make a document id from its name"."""
    paths, corpus = small_library
    for name, text in [("Закон о ВИЧ 2024.txt", "A lawyer answers questions about the 2024 law by telephone."),
                       ("Қазақстан есебі.txt", "Outreach in Shymkent reaches migrants without propiska.")]:
        (tmp_path / name).write_text(f"Report\n\n{text}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["add", str(tmp_path / "Закон о ВИЧ 2024.txt"), str(tmp_path / "Қазақстан есебі.txt"), *paths]) == 0
    out = capsys.readouterr().out
    assert "added zakon-o-vich-2024: " in out and "added qazaqstan-esebi: " in out
    assert (corpus / "zakon-o-vich-2024.txt").is_file() and (corpus / "qazaqstan-esebi.txt").is_file()


@pytest.mark.parametrize("name", ["report\x1b]0;owned\x07.txt", "report\x1b[2J\x1b[H.txt", "report\nerror: forged.txt",
                                  "tx\u202et.pdf", "report\r.txt", "report\x9b31m.txt"])
def test_file_names_are_shown_not_obeyed_by_the_terminal(tmp_path, capsys, name):
    """A name with escape sequences, line breaks or a bidi override, in an error and in a log
    line: shown as escapes, on one line. Before (issue 28): printed raw."""
    assert main(["add", str(tmp_path / name), "--corpus", str(tmp_path / "c"), "--index", str(tmp_path / "i")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "no such file" in err
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", err), repr(err)
    record = logging.LogRecord("assistant", logging.WARNING, __file__, 1, "cannot read %s", (tmp_path / name,), None)
    logged = TerminalFormatter("%(levelname)s: %(message)s").format(record)
    assert "\n" not in logged and not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", logged), repr(logged)


@pytest.mark.models  # small_library builds an index with the real models
def test_remove_without_a_terminal_as_a_real_process(small_library):
    paths, corpus = small_library
    result = subprocess.run([sys.executable, "-m", "assistant.cli", "remove", "beta", *paths], capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL, env={**os.environ, **ENGLISH})
    assert result.returncode == 2 and "--yes" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and (corpus / "beta.txt").exists()


def test_a_refusal_names_the_missing_part_and_a_partial_answer_says_so_first(index_env, assistant):
    question = "what is the penalty for pimping under the new law"
    result = run("--lang", "ru", "ask", question, "--k", "2", env={**index_env, **ENGLISH})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == ("Похоже, в этих документах об этом ничего нет (в документах говорится об "
                                             "этом, но ни наказания, ни срока нет).")
    refused = assistant.ask(question, 2)
    partial = Answer.model_validate(refused.model_dump() | {"abstained": False, "abstain_reason": None,
                                                          "missing_note": partly_answered(PARTS_BY_NAME["penalty"])})
    lines = format_answer(partial, bold=False, ui=Ui("kk")).splitlines()
    assert lines[0] == "Жауап толық емес: құжаттарда бұл туралы айтылады, бірақ жаза да, мерзім де көрсетілмеген."
    assert lines[1] == "" and "Жауап толық емес" not in "\n".join(lines[1:])


# A missing index, a closed pipe, warnings ---------------------------------------------------------


@pytest.mark.models  # the command builds an index with the real models
def test_ask_builds_a_missing_index_says_so_on_stderr_and_answers(tmp_path):
    corpus = small_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    index.mkdir()  # an empty folder: no index in it yet
    paths = ["--corpus", str(corpus), "--index", str(index)]
    first = run("ask", "Who hands out rapid HIV test kits?", "--k", "1", *paths, env=ENGLISH)
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith(f"building the index in {index} (there is no index yet)\n"), first.stderr
    assert "passages: 100%" in first.stderr  # the build's progress follows the line, on stderr
    assert first.stderr.count("building the index") == 1 and "Traceback" not in first.stderr
    assert first.stdout.startswith("These sources run to 2020."), first.stdout
    assert "[1] Alpha report, 2020" in first.stdout and "rapid HIV test kits" in first.stdout
    assert "building" not in first.stdout and "%" not in first.stdout  # results only

    again = run("ask", "Where is the shelter?", "--k", "1", *paths, env=ENGLISH)  # built once: used as it is
    assert again.returncode == 0 and "building" not in again.stderr and "[1] Beta report, 2020" in again.stdout

    # In the reader's language; and a build that cannot be done is one error line after it.
    nothing = run("--lang", "ru", "ask", "HIV", "--corpus", str(tmp_path / "none"), "--index", str(tmp_path / "empty"),
                  env=ENGLISH)
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    said = [line for line in nothing.stderr.splitlines() if line.strip()]
    assert said[0] == f"строится индекс в {tmp_path / 'empty'} (индекса ещё нет)", said
    assert len(said) == 2 and said[1].startswith("ошибка: ") and "does not exist" in said[1], said
    assert nothing.stdout == ""


def run_into_closed_pipe(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command with its stdout a pipe whose reader is gone before the first line (as `| head -1`
    is gone after its line, so every later write fails: here the first one does, every time)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "assistant.cli", *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=300, env={**os.environ, **(env or {})})
    finally:
        os.close(write_end)


def test_docs_ask_and_eval_end_quietly_when_the_reader_of_stdout_is_gone(index_env, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text((REPO / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    for args in (("docs",), ("docs", "--json"), ("ask", "HIV testing"), ("eval", "--gold", str(gold))):
        result = run_into_closed_pipe(*args, env={**index_env, **ENGLISH})
        assert result.returncode == 141, (args, result.returncode, result.stderr)  # 128 + SIGPIPE, as a shell says
        for trace in ("Traceback", "BrokenPipeError", "Exception ignored", "error"):
            assert trace not in result.stderr, (args, result.stderr)
    shell = subprocess.run(f"{shlex.quote(sys.executable)} -m assistant.cli docs | head -1", shell=True, capture_output=True,
                           text=True, timeout=300, env={**os.environ, **index_env, **ENGLISH})  # as people run it
    assert shell.stdout.startswith("ID ") and len(shell.stdout.splitlines()) == 1 and "Traceback" not in shell.stderr


@pytest.mark.models  # small_library builds an index with the real models
def test_add_prints_each_warning_once_on_stderr_and_only_results_on_stdout(small_library, tmp_path):
    paths, _ = small_library
    new = tmp_path / "gamma.txt"
    new.write_text("Gamma report\n\nA lawyer answers questions about the 2024 law by telephone.\n", encoding="utf-8")
    result = run("add", str(new), "--title", "Gamma report", "--date", "2024", *paths, env=ENGLISH)  # no publisher
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "publisher" in line]
    assert warnings == ["warning: gamma: no publisher in the file or the flags: citations will lack it (re-add with "
                        "--publisher ..., or edit corpus/gamma.toml and run `assistant index`)"], result.stderr
    assert result.stdout.splitlines()[0] == "added gamma: 'Gamma report' (1 passage)"
    assert len(result.stdout.splitlines()) == 2 and result.stdout.splitlines()[1].startswith("index: 3 documents, ")


OPERATOR_PASSWORD = "correct horse battery staple"


def operator_env(path) -> dict:
    return {**ENGLISH, "ASSISTANT_OPERATOR_FILE": str(path)}


def run_operator(*args: str, path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant.cli", "operator", *args], capture_output=True, text=True,
                          timeout=120, input=stdin, env={**os.environ, **operator_env(path)})


def test_operator_set_password_reads_standard_input_once_and_stores_only_a_hash(tmp_path):
    from assistant.operator.credentials import OperatorCredentials, verify_password

    path = tmp_path / "operator.toml"
    result = run_operator("set-password", path=path, stdin=OPERATOR_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and str(path) in result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert OPERATOR_PASSWORD not in path.read_text(encoding="utf-8")
    credentials = OperatorCredentials.load(path)
    assert credentials is not None and credentials.password_hash.startswith("$argon2id$")
    assert verify_password(credentials, OPERATOR_PASSWORD)  # one trailing newline stripped, nothing else
    assert not verify_password(credentials, OPERATOR_PASSWORD + "\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".operator.toml.lock", "operator.toml"]


def test_operator_set_password_refuses_a_short_one_in_one_line_with_exit_2(tmp_path):
    path = tmp_path / "operator.toml"
    result = run_operator("set-password", path=path, stdin="too short\n")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "12" in result.stderr and result.stdout == ""
    assert not path.exists()
    russian = subprocess.run([sys.executable, "-m", "assistant.cli", "--lang", "ru", "operator", "set-password"],
                             capture_output=True, text=True, timeout=120, input="",
                             env={**os.environ, **operator_env(path)})
    assert russian.returncode == 2 and "пароль" in russian.stderr and russian.stderr.count("\n") == 1


def test_operator_set_password_on_a_terminal_asks_twice_and_refuses_two_different(tmp_path, monkeypatch, capsys):
    from assistant.operator.credentials import OperatorCredentials, verify_password

    path = tmp_path / "operator.toml"
    for name, value in operator_env(path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stdin", Terminal(""))
    typed = iter([OPERATOR_PASSWORD, OPERATOR_PASSWORD + "x"])
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or next(typed))
    assert main(["operator", "set-password"]) == 2
    assert len(prompts) == 2
    err = capsys.readouterr().err
    assert "differ" in err and err.count("\n") == 1
    assert not path.exists()
    typed = iter([OPERATOR_PASSWORD, OPERATOR_PASSWORD])
    assert main(["operator", "set-password"]) == 0
    credentials = OperatorCredentials.load(path)
    assert credentials is not None and verify_password(credentials, OPERATOR_PASSWORD)


def test_operator_token_is_printed_once_and_only_its_hash_is_kept(tmp_path):
    from assistant.operator.credentials import OperatorCredentials, verify_token

    path = tmp_path / "operator.toml"
    result = run_operator("token", "--name", "office laptop", path=path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and len(token) >= 40
    assert "only" in result.stderr and token not in result.stderr
    assert token not in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = OperatorCredentials.load(path)
    assert credentials is not None and verify_token(credentials, token)
    assert [t.name for t in credentials.tokens] == ["office laptop"]
    assert not verify_token(credentials, token.upper())


@pytest.mark.parametrize("content", [
    b'password_hash = "unterminated\n',
    b"tokens = " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
    b"# " + b"x" * 70_000 + b"\n",
    b"password_hash = 42\n",
], ids=["syntax", "deep", "oversized", "wrong type"])
def test_operator_commands_on_a_damaged_file_say_one_line_naming_it(tmp_path, content):
    path = tmp_path / "operator.toml"
    path.write_bytes(content)
    for args, stdin in [(("token",), ""), (("set-password",), OPERATOR_PASSWORD)]:
        result = run_operator(*args, path=path, stdin=stdin)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and str(path) in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""
    assert path.read_bytes() == content
