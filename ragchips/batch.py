"""Answer a file of questions: one JSON answer per line, resumable after an interruption.

Each input line is ``{"question": ..., "id": ...}`` (``id`` optional: the question text
identifies it). Every answer is written and flushed as soon as it is known, so a run that
is stopped keeps what it did; the next run skips the questions already answered in the
output file (error lines are retried) and drops a half-written last line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["BatchReport", "answer_file", "read_batch_questions"]


@dataclass(frozen=True)
class BatchReport:
    """What one run did: answered now, found already answered, failed (bad questions)."""

    answered: int
    skipped: int
    errors: int

    def __str__(self) -> str:
        return (
            f"answered {self.answered} questions ({self.skipped} already answered, "
            f"{self.errors} errors)"
        )


def read_batch_questions(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The questions of a JSONL file, each with its ``id``; a bad line is a one-line error."""
    from .errors import RagchipsError
    from .evaluation import question_lines

    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, record in question_lines(path, blank=True):
        given = record.get("id")
        qid = str(record["question"] if given is None else given)
        if qid in seen:
            raise RagchipsError(f"{path}:{n}: id {qid!r} appears twice")
        seen.add(qid)
        out.append({**record, "id": qid})
    return out


_LINE_START = b'{"id": '  # how every line answer_file writes begins
_NOT_OURS = (
    "{}:{}: not an answer line of 'ask --questions'; give --out a new file or one this "
    "command wrote"
)


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _answered(out: Path, retried: set[str] | None = None) -> set[str]:
    """Ids already answered in ``out``; a half-written last line is cut off, and so are the
    error lines of the questions in ``retried`` (asked again now, they would be written
    twice). A file that answer_file did not write is refused before anything in it is
    changed. The file is edited in place: a link, its mode and its owner stay."""
    from .errors import RagchipsError

    if not out.exists():
        return set()
    retried = retried or set()
    data = out.read_bytes()
    lines = data.split(b"\n")
    last = lines.pop()  # b"" when the file ends with a newline
    done = set()
    kept = []  # the lines that stay: all but the error lines of questions asked again
    for n, line in enumerate(lines, 1):
        try:
            record = json.loads(line.decode("utf-8")) if line.strip() else {"id": None}
        except UnicodeDecodeError:
            raise RagchipsError(f"{out}:{n}: not UTF-8 text; give --out a new file") from None
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or "id" not in record:
            raise RagchipsError(_NOT_OURS.format(out, n))
        if "error" not in record and record["id"] is not None:
            done.add(str(record["id"]))
        if not ("error" in record and str(record["id"]) in retried):
            kept.append(line)
    if last and not (last.startswith(_LINE_START) or _LINE_START.startswith(last)):
        raise RagchipsError(_NOT_OURS.format(out, len(lines) + 1))
    if last or len(kept) != len(lines):
        body = b"".join(line + b"\n" for line in kept)
        with open(out, "r+b") as f:  # never longer than what is there: rewritten in place
            f.write(body)
            f.truncate(len(body))
            f.flush()
            os.fsync(f.fileno())
    return done


def answer_file(
    questions: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    k: int = 5,
    index: Any = None,
    mode: str = "hybrid",
    where: dict[str, Any] | None = None,
    llm: Any = None,
    settings: Settings | None = None,
    progress: bool = False,
) -> BatchReport:
    """Answer every question of ``questions`` not yet answered in ``out``."""
    from tqdm import tqdm

    from .api import ask, open_index
    from .errors import InvalidQuestionError, RagchipsError

    out_path = Path(out)
    if str(out) == "-" or (out_path.exists() and not out_path.is_file()):
        # Answers are appended and a run resumes from them: a pipe or a terminal would be
        # read first, and wait forever.
        raise RagchipsError(f"{out}: --out must be a file (a run resumes from it), not a pipe")
    items = read_batch_questions(questions)
    if out_path.exists() and str(questions) != "-" and out_path.samefile(questions):
        raise RagchipsError(f"{out}: --out is the questions file; give the answers their own")
    idx = open_index(index)  # once, before the bar starts (and before the file is touched)
    done = _answered(out_path, {q["id"] for q in items})
    todo = [q for q in items if q["id"] not in done]
    errors = 0
    with (
        open(out_path, "a", encoding="utf-8") as f,
        tqdm(
            total=len(items),
            initial=len(items) - len(todo),
            desc="answering",
            unit="question",
            disable=not progress,
        ) as bar,
    ):
        for q in todo:
            try:
                question = q["question"]
                answer = ask(question, k, idx, mode, where, llm, settings=settings)
                record: dict[str, Any] = {"id": q["id"], **answer.to_dict()}
            except InvalidQuestionError as exc:  # one bad question does not stop the batch
                record = {"id": q["id"], "question": q["question"], "error": str(exc)}
                errors += 1
            line = json.dumps(record, ensure_ascii=False)
            if not line.isascii() and _unencodable(line):
                line = json.dumps(record)  # a lone surrogate ("\ud800") written as its escape
            f.write(line + "\n")
            f.flush()
            bar.update(1)
    return BatchReport(len(todo) - errors, len(items) - len(todo), errors)
