"""The quickstart notebook runs for real, top to bottom, and shows what it claims to show.

The notebook is executed by a ``python3`` kernel running this very interpreter, from the
repository root, so a renamed or broken API makes this test fail instead of leaving a stale
example behind. It builds a small index with the default embedder (sentence-transformers),
hence the ``slow`` mark; the whole run takes about half a minute.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
CELL_TIMEOUT_S = 240

pytestmark = pytest.mark.slow


def _cell(nb: Any, tag: str) -> Any:
    """The one cell carrying ``tag`` in its metadata."""
    found = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(found) == 1, f"expected one cell tagged {tag!r}, found {len(found)}"
    return found[0]


def _stdout(cell: Any) -> str:
    """Everything the cell printed to stdout."""
    return "".join(
        o.get("text", "")
        for o in cell.outputs
        if o.output_type == "stream" and o.get("name") == "stdout"
    )


def _html(cell: Any) -> str:
    """The HTML of the cell's displayed result (its last expression)."""
    html = [
        o["data"]["text/html"]
        for o in cell.outputs
        if o.output_type == "execute_result" and "text/html" in o.get("data", {})
    ]
    assert len(html) == 1, f"expected one HTML result, got outputs {cell.outputs}"
    return str(html[0])


def _cited_paths(html: str) -> list[str]:
    """The source paths an Answer's HTML cites, in order."""
    return re.findall(r"<code>(.*?)</code>", html)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The notebook after a real run, with its outputs."""
    tmp = tmp_path_factory.mktemp("notebook")
    mp = pytest.MonkeyPatch()
    try:
        # A python3 kernelspec for this interpreter, found before any other on the machine.
        kernelspec.install(prefix=str(tmp), kernel_name="python3")
        mp.setenv("JUPYTER_PATH", str(tmp / "share" / "jupyter"))
        mp.setenv("JUPYTER_RUNTIME_DIR", str(tmp / "runtime"))
        mp.setenv("IPYTHONDIR", str(tmp / "ipython"))
        # Run the notebook as a fresh user would: no index, model or LLM chosen by env.
        for name in ("RAGCHIPS_INDEX", "RAGCHIPS_EMBEDDER", "RAGCHIPS_E5_ENGINE", "RAGCHIPS_LLM"):
            mp.delenv(name, raising=False)

        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
        assert Path(spec.argv[0]) == Path(sys.executable), spec.argv

        nb = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            nb,
            kernel_name="python3",
            timeout=CELL_TIMEOUT_S,
            resources={"metadata": {"path": str(ROOT)}},
        )
        client.execute()  # raises CellExecutionError on the first failing cell
        return nb
    finally:
        mp.undo()


def test_committed_notebook_has_no_outputs() -> None:
    """The file in the repository is kept clean, so that it diffs well."""
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], cell["source"]
            assert cell["execution_count"] is None, cell["source"]


def test_no_cell_errored(executed: Any) -> None:
    """Every code cell ran, and none produced an error output."""
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, cell.source
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{cell.source}\n{errors}"


def test_first_answer_renders_with_sources(executed: Any) -> None:
    """The first answer displays as HTML, with its Sources and real, cited files."""
    html = _html(_cell(executed, "answer"))
    assert "Sources" in html
    paths = _cited_paths(html)
    assert paths, html
    for path in paths:
        assert (ROOT / path).is_file(), path  # relative to the repository root, or absolute


def test_every_passage_is_an_exact_span(executed: Any) -> None:
    """The notebook re-read each cited file and found the passage text at [start:end]."""
    checks = re.findall(r"texte identique : (\w+)", _stdout(_cell(executed, "exact-spans")))
    cited = _cited_paths(_html(_cell(executed, "answer")))
    assert len(checks) == len(cited) > 0
    assert checks == ["True"] * len(checks)


def test_to_dict_keys(executed: Any) -> None:
    """The JSON form shows the answer's and the passages' main fields."""
    out = _stdout(_cell(executed, "to-dict"))
    for key in ("question", "answer", "found", "passages", "source", "start", "end", "text"):
        assert repr(key) in out, (key, out)


def test_modes_are_compared(executed: Any) -> None:
    """Each search mode printed its passages."""
    out = _stdout(_cell(executed, "modes"))
    for mode in ("lexical", "dense", "hybrid"):
        assert f"--- {mode} (found=" in out, out
    assert len(re.findall(r"^  \[\d\] ", out, flags=re.MULTILINE)) >= 3, out


def test_own_folder_index_answers_from_its_files(executed: Any) -> None:
    """The index of the notebook's own folder answers from the files the notebook wrote."""
    build_out = _stdout(_cell(executed, "own-build"))
    assert re.search(r"^3 documents, \d+ passages", build_out, flags=re.MULTILINE), build_out
    cell = _cell(executed, "own-answer")
    assert "found = True" in _stdout(cell)
    html = _html(cell)
    paths = _cited_paths(html)
    assert paths, html
    assert Path(paths[0]).name == "boulangerie.txt", paths
    assert all(Path(p).parent.name == "mes_notes" for p in paths), paths
    assert "lundi" in html.split("Sources")[0], html


def test_off_topic_question_is_not_found(executed: Any) -> None:
    """A question the collection cannot answer says so."""
    assert "found = False" in _stdout(_cell(executed, "off-topic"))
