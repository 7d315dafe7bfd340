"""Embedding throughput: the pipeline (matcher.embed.cached_embed into a fresh SQLite store) against a bare
SentenceTransformer.encode on the same texts, as a ratio; plus the warm-cache pass (every vector stored).

Run from the repository root:

    .venv/bin/python bench/bench_embed.py                    # the dev notices' texts, fp32, median of 3
    .venv/bin/python bench/bench_embed.py --limit 200 --repeats 5 --precision bf16

The texts are what the match job embeds for each notice (title + body) from tests/data/eval/notices.
The machine is noisy: trust the ratio more than single times.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matcher.config import EmbeddingConfig  # noqa: E402
from matcher.embed import Embedder, cached_embed  # noqa: E402
from matcher.quality.corpus import read_notices  # noqa: E402
from matcher.match.texts import dense_text  # noqa: E402
from matcher.store import init_db, make_engine, session_scope  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notices", type=Path, default=ROOT / "tests/data/eval/notices")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N texts (0 = all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()

    texts = list(dict.fromkeys(dense_text(n) for n in read_notices(sorted(args.notices.glob("*.jsonl")))))
    if args.limit:
        texts = texts[: args.limit]
    embedder = Embedder(EmbeddingConfig(batch_size=args.batch_size, precision=args.precision, progress_min_texts=10**9))
    t0 = time.perf_counter()
    model = embedder.model
    print(f"model load (import included): {time.perf_counter() - t0:.1f} s; {len(texts)} texts, "
          f"{statistics.mean(len(t.split()) for t in texts):.0f} words on average, {args.precision}, batch {args.batch_size}")
    model.encode(texts, batch_size=args.batch_size)  # warm up: the first full pass is slow on this machine

    bare, cold, warm = [], [], []

    def run_bare() -> None:
        t0 = time.perf_counter()
        model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
        bare.append(time.perf_counter() - t0)

    for i in range(args.repeats):
        if i % 2 == 0:  # alternate which goes first, so drift in the machine's speed hits both alike
            run_bare()
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            init_db(engine)
            t0 = time.perf_counter()
            with session_scope(engine) as s:
                _, new = cached_embed(s, embedder, texts)
            cold.append(time.perf_counter() - t0)
            assert new == len(texts)
            t0 = time.perf_counter()
            with session_scope(engine) as s:
                _, new = cached_embed(s, embedder, texts)
            warm.append(time.perf_counter() - t0)
            assert new == 0
            engine.dispose()
        if i % 2 == 1:
            run_bare()

    def rate(times: list[float]) -> float:
        return len(texts) / statistics.median(times)

    print(f"bare SentenceTransformer.encode: {rate(bare):8.1f} texts/s")
    print(f"pipeline, empty cache:           {rate(cold):8.1f} texts/s  (ratio to bare {rate(cold) / rate(bare):.2f})")
    print(f"pipeline, warm cache:            {rate(warm):8.1f} texts/s  (ratio to bare {rate(warm) / rate(bare):.1f})")


if __name__ == "__main__":
    main()
