"""Extension points with a real plugin: tests/plugins/tiny, installed by pip into a temp folder.

The plugin declares an embedder (``tiny-bow``) and rerankers through entry points, exactly as
a separate package would; the tests put the folder pip installed it into on ``sys.path`` (or
on a subprocess's ``PYTHONPATH``) and use ragchips's public names only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ragchips import Index, Passage
from ragchips import embedding as embedding_module
from ragchips import rerank as rerank_module
from ragchips.embedding import EMBEDDERS, get_embedder
from ragchips.errors import PluginError, RagchipsError, UnknownPluginError
from ragchips.plugins import Registry
from ragchips.reader import Document
from ragchips.rerank import RERANKERS, get_reranker, rerank

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SRC = Path(__file__).resolve().parent / "plugins" / "tiny"
PLUGIN_NAMES = ("tiny-bow", "tiny-overlap", "tiny-broken")

DOCS = [
    Document("volcans", "volcans.txt", "Volcans", "Le Piton de la Fournaise est un volcan "
             "actif de La Réunion. Ses éruptions sont fréquentes et surveillées.", "0" * 64),
    Document("fromages", "fromages.txt", "Fromages", "Le comté est un fromage au lait cru "
             "fabriqué dans le massif du Jura, affiné pendant des mois.", "1" * 64),
    Document("trains", "trains.txt", "Trains", "Le TGV relie Paris à Lyon en deux heures ; "
             "la ligne à grande vitesse a ouvert en 1981.", "2" * 64),
]  # fmt: skip


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip installs the example plugin (from a copy: the build writes beside its sources)."""
    tmp = tmp_path_factory.mktemp("tiny-plugin")
    src = tmp / "src"
    shutil.copytree(PLUGIN_SRC, src)
    site = tmp / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    cmd += ["--no-build-isolation", "--target", str(site), str(src)]
    subprocess.run(cmd, check=True, timeout=300, capture_output=True)
    assert list(site.glob("ragchips_tiny_plugin-0.1.0.dist-info/entry_points.txt"))
    return site


def _forget_plugin() -> None:
    for name in PLUGIN_NAMES:
        EMBEDDERS.unregister(name)
        RERANKERS.unregister(name)
        rerank_module._INSTANCES.pop(name, None)
    for key in [k for k in embedding_module._INSTANCES if k[0] in PLUGIN_NAMES]:
        del embedding_module._INSTANCES[key]
    sys.modules.pop("ragchips_tiny_plugin", None)


@pytest.fixture()
def installed(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plugin importable in this process, and forgotten afterwards."""
    monkeypatch.syspath_prepend(str(plugin_site))
    yield plugin_site
    _forget_plugin()


def _run(code: str, *args: str, pythonpath: list[Path], cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), str(ROOT)])
    env["RAGCHIPS_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- embedders ---------------------------------------------------------------------------


def test_plugin_embedder_builds_an_index_that_ask_reopens(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    Index.build(DOCS, embedder="tiny-bow", out=out)
    recorded = json.loads((out / "manifest.json").read_text())["embedder"]
    assert recorded["name"] == "tiny-bow"
    assert recorded["plugin"] == "ragchips-tiny-plugin 0.1.0"

    # A fresh process, as `ask` or the server would be: only the name in the manifest
    # leads to the plugin.
    code = (
        "import json, sys\n"
        "from ragchips import ask\n"
        "a = ask(sys.argv[1], index=sys.argv[2], k=3)\n"
        "print(json.dumps([p.doc_id for p in a.passages]))\n"
    )
    done = _run(code, "Quel fromage est fabriqué dans le Jura ?", str(out),
                pythonpath=[installed], cache=tmp_path / "cache")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] == "fromages"


def test_index_whose_plugin_is_missing_names_the_package(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    Index.build(DOCS, embedder="tiny-bow", out=out)
    code = (
        "import sys\n"
        "from ragchips import ask\n"
        "from ragchips.errors import UnknownPluginError\n"
        "try:\n"
        "    ask('un volcan ?', index=sys.argv[1])\n"
        "except UnknownPluginError as exc:\n"
        "    print(exc)\n"
    )
    done = _run(code, str(out), pythonpath=[], cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    message = done.stdout.strip()
    assert "\n" not in message
    assert "'tiny-bow'" in message
    assert "ragchips-tiny-plugin" in message
    assert "ragchips.embedders" in message

    # The command line says the same on one line and fails.
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAGCHIPS_CACHE=str(tmp_path / "cache"))
    cli = subprocess.run(
        [sys.executable, "-c", "from ragchips.cli import ask_main; raise SystemExit(ask_main())",
         "--index", str(out), "un volcan ?"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode != 0
    assert "ragchips-tiny-plugin" in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1


def test_installed_plugins_are_listed(installed: Path) -> None:
    assert "tiny-bow" in EMBEDDERS.names()
    assert {"e5-small", "hash-<dim>", "st:<model folder or id>"} <= set(EMBEDDERS.names())
    assert {"tiny-overlap", "tiny-broken"} <= set(RERANKERS.names())
    with pytest.raises(UnknownPluginError, match=r"unknown embedder 'word2vec'.*tiny-bow"):
        get_embedder("word2vec")


# -- rerankers ---------------------------------------------------------------------------


def _passages() -> list[Passage]:
    return [
        Passage(i + 1, 1.0 - i / 10, d.text, d.doc_id, d.source, d.title, 0, len(d.text))
        for i, d in enumerate(DOCS)
    ]


def test_plugin_reranker_reorders_and_ranks_again(installed: Path) -> None:
    reranker = get_reranker("tiny-overlap")
    assert reranker is not None and reranker is get_reranker("tiny-overlap")
    out = rerank("Quand la ligne à grande vitesse Paris Lyon a-t-elle ouvert ?", _passages(),
                 reranker)  # fmt: skip
    assert [p.doc_id for p in out] == ["trains", "volcans", "fromages"]
    assert [p.rank for p in out] == [1, 2, 3]
    assert out[0].score > out[1].score
    # Spans are untouched: citations still point at the exact text.
    assert {(p.doc_id, p.start, p.end) for p in out} == {
        (p.doc_id, p.start, p.end) for p in _passages()
    }


def test_broken_plugin_is_a_one_line_error(installed: Path) -> None:
    with pytest.raises(PluginError, match=r"tiny-plugin 0\.1\.0 cannot be imported") as info:
        get_reranker("tiny-broken")
    assert "\n" not in str(info.value)


def test_no_reranker_and_unknown_reranker() -> None:
    assert get_reranker(None) is None and get_reranker("none") is None
    passages = _passages()
    assert rerank("x", passages, None) is passages
    with pytest.raises(UnknownPluginError, match="unknown reranker 'cross-encoder'"):
        get_reranker("cross-encoder")


class _Inventor:
    """A faulty reranker: returns a passage it was not given."""

    name = "inventor"

    def rerank(self, question: str, passages: list[Passage]) -> list[Passage]:
        return [*passages[:1], Passage(2, 0.5, "inventé", "nulle-part", "x", "x", 0, 7)]


class _Repeater:
    name = "repeater"

    def rerank(self, question: str, passages: list[Passage]) -> list[Passage]:
        return [passages[0], passages[0]]


@pytest.mark.parametrize("faulty", [_Inventor(), _Repeater()])
def test_reranker_may_not_invent_or_repeat_passages(faulty: Any) -> None:
    with pytest.raises(PluginError, match="may only reorder and drop"):
        rerank("x", _passages(), faulty)


# -- the registry itself -----------------------------------------------------------------


def test_registry_families_and_factory_failures() -> None:
    reg: Registry[Passage] = Registry("thing", "ragchips.tests-nothing", check=Passage)
    made: list[tuple[str, dict[str, Any]]] = []

    def family(name: str, options: Mapping[str, Any]) -> Passage:
        made.append((name, dict(options)))
        return _passages()[0]

    def longer(name: str, options: Mapping[str, Any]) -> Passage:
        return _passages()[1]

    def failing(name: str, options: Mapping[str, Any]) -> Passage:
        raise OSError("disk on fire\nsecond line")

    def wrong(name: str, options: Mapping[str, Any]) -> Any:
        return "not a passage"

    reg.register("a:*", family)
    reg.register("a:b:*", longer)
    reg.register("fail", failing)
    reg.register("wrong", wrong)
    assert reg.create("a:x", {"k": 1}).doc_id == "volcans"
    assert made == [("a:x", {"k": 1})]
    assert reg.create("a:b:c").doc_id == "fromages"  # the longest prefix wins
    with pytest.raises(UnknownPluginError, match="unknown thing 'a:'"):
        reg.create("a:")  # a family needs a non-empty suffix
    with pytest.raises(PluginError, match=r"thing 'fail' .*OSError: disk on fire$"):
        reg.create("fail")
    with pytest.raises(PluginError, match="made a str, not a Passage"):
        reg.create("wrong")
    with pytest.raises(ValueError):
        reg.register("*", family)
    assert isinstance(UnknownPluginError("x"), RagchipsError)


def test_built_in_names_never_read_entry_points(tmp_path: Path) -> None:
    """Cold `ask` pays nothing for plugins: a built-in name resolves without importlib.metadata."""
    code = (
        "import sys\n"
        "from ragchips import ask\n"
        "ask('qui fabrique la puce ?', k=1)\n"
        "print('importlib.metadata' in sys.modules, 'pluggy' in sys.modules)\n"
    )
    done = _run(code, pythonpath=[], cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


class _Exploding:
    name = "exploding"

    def __init__(self, result: Any) -> None:
        self.result = result

    def rerank(self, question: str, passages: list[Passage]) -> Any:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (RuntimeError("reranker exploded\nat line 2"), "RuntimeError: reranker exploded$"),
        (None, "TypeError: 'NoneType' object is not iterable"),
    ],
)
def test_a_failing_reranker_is_one_line_naming_it(result: Any, message: str) -> None:
    with pytest.raises(PluginError, match=f"reranker 'exploding' failed: {message}"):
        rerank("q", _passages(), _Exploding(result))


def test_rerank_of_the_wrong_type_is_one_line(seeds_index_path: Path) -> None:
    from ragchips import ask
    from ragchips.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="rerank must be a reranker's name"):
        ask("qui fabrique la puce ?", index=seeds_index_path, rerank=42)  # type: ignore[arg-type]


def test_a_reranker_object_needs_only_its_rerank_method(seeds_index_path: Path) -> None:
    from ragchips import ask

    class Reverse:  # no name: ask() still takes it
        def rerank(self, question: str, passages: list[Passage]) -> list[Passage]:
            return list(reversed(passages))

    plain = ask("qui fabrique la puce ?", index=seeds_index_path, k=3)
    flipped = ask("qui fabrique la puce ?", index=seeds_index_path, k=3, rerank=Reverse())
    assert [p.rank for p in flipped.passages] == [1, 2, 3]
    assert flipped.passages[0].doc_id != plain.passages[0].doc_id or len(plain.passages) == 1
