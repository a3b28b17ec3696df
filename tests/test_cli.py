"""End-to-end tests of the `assistant` command, run as a real process."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from assistant.cli import main
from conftest import CORPUS


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
    assert result.stdout.startswith("[1] ")
    citation = "[{}] HIV Prevention Report Card for Sex Workers: Kazakhstan — International Planned Parenthood Federation (IPPF), with SWAN and UNFPA, 2012 · PREVENTION COMPONENT 2 / AVAILABILITY OF SERVICES / KEY POINTS"
    assert any(citation.format(rank) in result.stdout for rank in (1, 2, 3)), result.stdout
    assert "33 friendly cabinets" in result.stdout
    assert "\033[1m" not in result.stdout  # bold only on a terminal


def test_bad_input_is_one_line_on_stderr_with_exit_code_2(tmp_path, index_env):
    cases = [
        (("ask", "   "), index_env, "question is empty"),
        (("ask", "HIV testing", "--index", str(tmp_path / "none")), index_env, "no index"),
        (("index", "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "i")), {}, "does not exist"),
    ]
    for args, env, message in cases:
        result = run(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_unreadable_document_stops_the_build_and_keeps_the_old_index(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    assert main(["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 0
    (corpus / "broken.txt").write_bytes(b"\xff\xfe\x00 not text")
    capsys.readouterr()
    assert main(["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 2
    assert "broken.txt is not UTF-8" in capsys.readouterr().err
    (corpus / "broken.txt").unlink()
    assert main(["ask", "HIV testing", "--corpus", str(corpus), "--index", str(tmp_path / "index"), "--json"]) == 0


def test_ask_on_a_stale_index_says_so(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    assert main(["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 0
    (corpus / "extra.txt").write_text("Extra\n\nA new note on outreach.\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["ask", "outreach", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 2
    assert "out of date" in capsys.readouterr().err
