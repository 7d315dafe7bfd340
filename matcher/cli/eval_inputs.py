"""What `matcher eval` and `matcher tune` both read: an evaluation set from files, and an encoder that can keep
its vectors in a SQLite file between runs."""
from __future__ import annotations

from pathlib import Path

from matcher.cli.common import err_console, fail, styled


def _notice_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(p.glob("*.jsonl"))
        elif p.exists():
            out.append(p)
        else:
            fail(f"--notices: {p} does not exist", 2)
    if not out:
        fail("--notices: no notice files given (JSON lines, or a folder of *.jsonl)", 2)
    return out


def read_eval_set(profiles: Path, qrels: Path, notices: list[Path]):
    """(profiles, notices, judgments) of an evaluation set, or stop with exit code 2 naming the file and line."""
    from matcher.quality.corpus import EvalDataError, read_notices, read_qrels
    from matcher.store.profiles import read_profiles

    read = read_profiles(profiles)
    for err in read.errors:
        err_console.print(styled("yellow", "skipped", f" {err}"), highlight=False, soft_wrap=True)
    if not read.profiles:
        fail(f"--profiles: no usable profile in {profiles}", 2)
    try:
        return read.profiles, read_notices(_notice_files(notices)), read_qrels(qrels)
    except EvalDataError as e:
        fail(str(e), 2)


def vector_encoder(embedder, vector_cache: Path | None):
    """embedder.encode, or (with --vector-cache) the store's cached_embed on a SQLite file kept between runs."""
    if vector_cache is None:
        return embedder.encode, None
    from matcher.embed import cached_embed
    from matcher.store import init_db, make_engine, session_scope

    engine = make_engine(f"sqlite:///{vector_cache.resolve()}")
    init_db(engine)

    def encode(texts):
        with session_scope(engine) as s:
            return cached_embed(s, embedder, texts)[0]

    return encode, engine
