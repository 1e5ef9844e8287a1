"""The index at 10^4, 10^5 and 10^6 passages: build, size, memory, latency, recall, updates.

How the collection is made (seeded, so every run builds the same one):
- Real vectors and texts: the PIAF dev corpus (761 paragraphs, ../shared/eval/piaf), cut by
  ragchips's own chunker into 1,902 passages and embedded by e5-small (read from the index
  the README's PIAF benchmark builds, /tmp/ragchips-piaf; built first if missing: ``--base``).
- Each synthetic document has two paragraphs, each the text of a real passage drawn at
  random; its title is unique ("Document 123"). The vector of a synthetic passage is
  ``normalise(v_a + 0.5 v_b + 0.35 g / sqrt(d))``: its own real passage's e5 vector v_a, a
  second real vector v_b drawn at random, and Gaussian noise g; the mixture keeps vectors on
  e5's manifold (cosines between a question and its passage's variants stay like real ones)
  while making every vector distinct. The lexical index is realistic: real French text.
- Metadata: ``year`` uniform over 2000-2019 (a filter on one year keeps 5%).
The index records the e5-small embedder, so real e5 questions are asked of it (``ask``
works on it); the question's embedding is excluded from latencies by precomputing it.

Numbers printed per size: build time with a stand-in embedder that costs nothing (model
excluded), size on disk, resident memory of a process that loaded the index and answered
100 PIAF questions (its own memory, and the pages of the memory-mapped index files it
touched, which the kernel shares between processes and can drop; the same after 100 more is
printed below the row), cold ``ask`` in a fresh process (median of 5), hybrid search and
``ask()`` latency p50/p99 over the next 100 PIAF questions (other ones, the first 100 of the
file), with and without ``where={"year": 2010}`` (and, printed below the row, searches
alternating with and without the dense search in a second thread from 250,000 passages,
``RAGCHIPS_QUERY_PARALLEL=1``), the
CPU time of a search (p50, every thread of the process; what a loaded machine changes
least), recall@10 of the approximate dense index against exact search over the same stored
vectors (the top 10 of the candidates search takes from it),
and the time to add and to delete one document (median of 5).
Run: ``python tests/bench/bench_scale.py [--sizes 10000 100000 1000000] [--keep]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PIAF = ROOT.parent / "shared" / "eval" / "piaf"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from ragchips import Index  # noqa: E402
from ragchips.embedding import E5SmallEmbedder, Embedder  # noqa: E402
from ragchips.hybrid import APPROX_DENSE  # noqa: E402
from ragchips.reader import Document  # noqa: E402


class MixtureEmbedder(Embedder):
    """Vectors of synthetic passages from the real e5 vectors of their texts (see above)."""

    def __init__(self, base: Index, e5: Embedder) -> None:
        self.name, self.dim = e5.name, e5.dim
        self.query_prefix, self.passage_prefix = e5.query_prefix, e5.passage_prefix
        self._identity = e5.identity()
        self._probe = e5.probe()
        self._e5 = e5
        self.by_text: dict[str, int] = {}
        vecs = []
        for seg in base.segments:
            for local in range(seg.n_rows):
                p = base.passage(int(base._bases[base.segments.index(seg)]) + local)
                self.by_text.setdefault(p.text, len(vecs))
                if len(vecs) < len(self.by_text):
                    vecs.append(np.asarray(seg.dense.vectors[local], dtype=np.float32))
        self.real = np.stack(vecs)
        self.texts = list(self.by_text)

    def identity(self) -> dict:
        return dict(self._identity)

    def probe(self) -> np.ndarray:
        return self._probe

    def embed_queries(self, texts):  # type: ignore[no-untyped-def]
        return self._e5.embed_queries(texts)

    def embed_passages(self, texts, progress=None):  # type: ignore[no-untyped-def]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            body = t.split("\n", 1)[1] if "\n" in t else t
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            rng = np.random.default_rng(seed)
            a = self.real[self.by_text.get(body, int(rng.integers(len(self.real))))]
            b = self.real[int(rng.integers(len(self.real)))]
            v = a + 0.5 * b + 0.35 * rng.standard_normal(self.dim) / np.sqrt(self.dim)
            out[i] = v / np.linalg.norm(v)
        if progress is not None:
            progress(len(texts))
        return out


def documents(n_passages: int, texts: list[str], seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_passages // 2):
        a, b = rng.integers(len(texts), size=2)
        text = f"{texts[a]}\n\n{texts[b]}"
        out.append(
            Document(
                f"doc{i}",
                f"synthetic/doc{i}.txt",
                f"Document {i}",
                text,
                hashlib.sha256(text.encode()).hexdigest(),
                {"year": int(2000 + i % 20)},
            )
        )
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


PROBE = r"""
import json, sys, time, resource
import numpy as np
from ragchips import Index, ask
idx = Index.load(sys.argv[1])
vectors = np.load(sys.argv[2])
questions = json.loads(open(sys.argv[3]).read())
cache = {q: v for q, v in zip(questions, vectors)}
idx.embedder.embed_queries = lambda texts: np.stack([cache[t] for t in texts])
idx._probe_checked = True
warm, questions = questions[100:], questions[:100]
out = {}
def memory():
    status = open("/proc/self/status").read()
    keys = ("VmRSS", "RssAnon", "RssFile")
    return {k: int(status.split(k + ":")[1].split()[0]) * 1024 for k in keys}
# A process that has loaded the index and answered 100 other questions (a service that has
# been running): its memory is what the table reports; latencies are those of the next 100.
for q in warm:
    idx.search_rows(q, 10)
    ask(q, k=5, index=idx)
out.update(memory())
for label, where in (("plain", None), ("filtered", {"year": 2010})):
    search, answer, cpu = [], [], []
    for q in questions:
        t, c = time.perf_counter(), time.process_time()
        idx.search_rows(q, 10, where=where)
        search.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        t = time.perf_counter()
        ask(q, k=5, index=idx, where=where)
        answer.append(time.perf_counter() - t)
    out[label] = {"search": search, "ask": answer, "cpu": cpu}
out["after_200"] = memory()
# The same searches with the dense side in a second thread (RAGCHIPS_QUERY_PARALLEL=1) and
# without, alternating (the first of each pair swaps), so that warming favours neither.
import os
pair = {"1": [], "0": []}
for i, q in enumerate(questions * 2):
    for mode in ("10" if i % 2 else "01"):
        os.environ["RAGCHIPS_QUERY_PARALLEL"] = mode
        t = time.perf_counter()
        idx.search_rows(q, 10)
        pair[mode].append(time.perf_counter() - t)
os.environ.pop("RAGCHIPS_QUERY_PARALLEL")
out["second_thread"] = pair["1"]
out["one_thread"] = pair["0"]
per_file, name = {}, None
for line in open("/proc/self/smaps"):
    head = line.split()
    if len(head) >= 5 and "-" in head[0] and not line.startswith(("Rss", "Size")):
        name = "/".join(head[5].split("/")[-2:]) if len(head) > 5 else "[anon]"
    elif line.startswith("Rss:") and name is not None:
        per_file[name] = per_file.get(name, 0) + int(line.split()[1]) * 1024
out["mapped"] = sorted(per_file.items(), key=lambda kv: -kv[1])[:6]
print(json.dumps(out))
"""


def measure(
    size: int,
    base: Index,
    mix: MixtureEmbedder,
    work: Path,
    questions: list[str],
    qvecs: np.ndarray,
) -> dict:
    docs = documents(size, mix.texts)
    out = work / f"scale-{size}"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    idx = Index.build(docs, embedder=mix, out=out)
    build = time.perf_counter() - t
    res: dict = {"passages": len(idx), "build_s": build, "disk_mb": du(out) / 2**20}
    np.save(work / "qvecs.npy", qvecs)
    (work / "questions.json").write_text(json.dumps(questions), "utf-8")
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(out),
            str(work / "qvecs.npy"),
            str(work / "questions.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    data = json.loads(probe.stdout)
    res["mapped"] = [(name, size / 2**20) for name, size in data["mapped"]]
    res["after_200"] = data["after_200"]
    res["rss_mb"] = data["VmRSS"] / 2**20
    res["anon_mb"] = data["RssAnon"] / 2**20
    res["file_mb"] = data["RssFile"] / 2**20
    for label in ("plain", "filtered"):
        for what in ("search", "ask"):
            ms = [x * 1000 for x in data[label][what]]
            res[f"{what}_{label}_p50"] = percentile(ms, 50)
            res[f"{what}_{label}_p99"] = percentile(ms, 99)
    res["cpu_p50"] = percentile([x * 1000 for x in data["plain"]["cpu"]], 50)
    res["second_thread_p50"] = percentile([x * 1000 for x in data["second_thread"]], 50)
    res["one_thread_p50"] = percentile([x * 1000 for x in data["one_thread"]], 50)
    cold = []
    for q in questions[:5]:  # among the measured questions
        t = time.perf_counter()
        subprocess.run([str(BIN / "ask"), q, "--index", str(out)], capture_output=True, check=True)
        cold.append(time.perf_counter() - t)
    res["cold_ask_s"] = statistics.median(cold)
    # Recall@10 of the approximate dense search against exact search, where there is one:
    # the top 10 of the APPROX_DENSE candidates that search takes and rescores exactly.
    ann = [s for s in idx.segments if s.dense.ann is not None]
    if ann:
        hits = []
        for v in qvecs[:100]:
            v = np.asarray(v, dtype=np.float32)
            for seg in ann:
                a, _ = seg.dense.search(v, APPROX_DENSE, None)
                e, _ = seg.dense.search(v, 10, None, exact=True)
                hits.append(len(set(a[:10].tolist()) & set(e.tolist())) / 10)
        res["recall10"] = float(np.mean(hits))
    adds, deletes = [], []
    extra = documents(12, mix.texts, seed=size + 1)
    for i, d in enumerate(extra[:5]):
        d = Document(f"new{i}", d.source, d.title, d.text, d.sha256, d.metadata)
        t = time.perf_counter()
        idx.add([d])
        adds.append(time.perf_counter() - t)
        t = time.perf_counter()
        idx.delete([f"doc{i}"])
        deletes.append(time.perf_counter() - t)
    res["add_s"] = statistics.median(adds)
    res["delete_s"] = statistics.median(deletes)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--base", default="/tmp/ragchips-piaf", help="index of real passages")
    parser.add_argument("--work", default="/tmp/ragchips-scale")
    parser.add_argument("--keep", action="store_true", help="keep the indexes (for A/B runs)")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    base_dir = Path(args.base)
    if not (base_dir / "manifest.json").exists():
        print(f"embedding the real passages into {base_dir} (once)...", file=sys.stderr)
        Index.build([PIAF / "corpus.jsonl"], out=base_dir)
    base = Index.load(base_dir)
    e5 = E5SmallEmbedder(engine="native")
    mix = MixtureEmbedder(base, e5)
    lines = (PIAF / "questions.jsonl").read_text("utf-8").splitlines()
    # 100 questions measured, and 100 others answered before (see PROBE).
    questions = [json.loads(line)["question"] for line in lines][:200]
    qvecs = e5.embed_queries(questions)
    print(
        f"{len(mix.real)} real e5 passages; 100 PIAF questions measured after 100 others; "
        f"cpu {os.cpu_count()}"
    )
    head = (
        "| passages | build (no model) | disk | RSS after 100 q (own + mapped files) | cold ask "
        "| search p50/p99 | search CPU p50 "
        "| filtered p50/p99 | ask() p50 | filtered ask() p50 | recall@10 ANN "
        "| add 1 doc | delete 1 doc |"
    )
    print(head)
    print("|" + "---|" * 13)
    for size in args.sizes:
        r = measure(size, base, mix, work, questions, qvecs)
        cells = [
            f"{r['passages']:,}",
            f"{r['build_s']:.1f} s",
            f"{r['disk_mb']:.0f} MB",
            f"{r['rss_mb']:.0f} MB ({r['anon_mb']:.0f} + {r['file_mb']:.0f} mapped)",
            f"{r['cold_ask_s']:.2f} s",
            f"{r['search_plain_p50']:.1f} / {r['search_plain_p99']:.1f} ms",
            f"{r['cpu_p50']:.1f} ms",
            f"{r['search_filtered_p50']:.1f} / {r['search_filtered_p99']:.1f} ms",
            f"{r['ask_plain_p50']:.1f} ms",
            f"{r['ask_filtered_p50']:.1f} ms",
            f"{r['recall10']:.3f}" if "recall10" in r else "exact",
            f"{r['add_s']:.2f} s",
            f"{r['delete_s']:.2f} s",
        ]
        print("| " + " | ".join(cells) + " |", flush=True)
        mapped = ", ".join(f"{name} {mb:.0f} MB" for name, mb in r["mapped"])
        print(f"  resident by mapping: {mapped}", file=sys.stderr, flush=True)
        after = r["after_200"]
        print(
            f"  RSS after all 200 questions: {after['VmRSS'] / 2**20:.0f} MB "
            f"({after['RssAnon'] / 2**20:.0f} + {after['RssFile'] / 2**20:.0f} mapped)",
            file=sys.stderr,
            flush=True,
        )
        print(
            f"  then 2 x 100 searches each way, alternating: p50 {r['one_thread_p50']:.1f} ms "
            f"in one thread (the default), {r['second_thread_p50']:.1f} ms with the dense side "
            f"in a second thread (RAGCHIPS_QUERY_PARALLEL=1)",
            file=sys.stderr,
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(work / f"scale-{size}", ignore_errors=True)


if __name__ == "__main__":
    main()
