"""Prefix reuse in `heavylift analyze`, measured in one process on one engine.

(a) naive: each of N questions sent as a fresh request with the whole ~6,000-token document and
    `cache_prompt: false` (the engine recomputes the document every time);
(b) the same N questions through the analyze machinery (one job, slot-pinned, cache_prompt,
    document saved to disk after its first answer);
(c) the engine is restarted, and a job on the same document restores the saved KV from disk:
    its first answer vs (a)'s first question (recomputing).

    python bench/analyze_speed.py [--model default] [--questions 10] [--max-tokens 16]
Target: (b) <= 0.3 x (a), and (c) < (a)'s first question.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PARAGRAPH = ("Section {n}. The Supplier shall deliver the Services described in Statement of Work {n} within "
             "{d} days of the order date. Invoices for Statement of Work {n} are payable within {p} days, and late "
             "payments bear interest at {r}% per month. Either party may terminate Statement of Work {n} on {t} days' "
             "written notice; the Client may audit the Supplier's records relating to it once per contract year.\n\n")
QUESTIONS = ["Who is the supplier?", "What is the delivery time in Section 3?", "When are invoices payable?",
             "What interest applies to late payments?", "How much notice is needed to terminate?",
             "Can the client audit the supplier?", "How often can audits happen?", "What does Section 7 cover?",
             "Which section has the longest delivery time?", "Summarise the payment terms in one sentence."]


def make_document(target_tokens: int, count_tokens) -> str:
    text, n = "", 0
    while True:
        n += 1
        text += PARAGRAPH.format(n=n, d=10 + n % 20, p=30 + n % 3 * 15, r=1 + n % 2, t=30 + n % 4 * 30)
        if n % 10 == 0 and count_tokens(text) >= target_tokens:
            return f"# Framework Services Agreement\n\n{text.strip()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--doc-tokens", type=int, default=6000)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()

    from heavylift.models.model_store import ModelStore

    model_path = str(ModelStore().resolve(args.model).path)
    os.environ["HEAVYLIFT_DATA_DIR"] = tempfile.mkdtemp(prefix="heavylift-bench-")  # no KV files from earlier runs

    from heavylift.analyze.engine_session import kv_dir
    from heavylift.analyze.ingest import Document
    from heavylift.analyze.ingest.document import sha256_bytes
    from heavylift.analyze.job_runner import run_job
    from heavylift.analyze.jobs import JobConfig, JobStore
    from heavylift.analyze.prompts import TaskSpec, messages_for
    from heavylift.engines.launch import local_engine

    questions = (QUESTIONS * (args.questions // len(QUESTIONS) + 1))[: args.questions]
    engine = local_engine(model_path, ctx_size=8192, num_parallel=1, slot_save_path=kv_dir())
    quiet = lambda message: None  # noqa: E731
    with engine:
        client = engine.client
        text = make_document(args.doc_tokens, lambda t: len(client.tokenize(t)))
        doc = Document(path="bench.md", name="bench.md", kind="markdown", text=text, sha256=sha256_bytes(text.encode()))
        print(f"document: {len(client.tokenize(doc.body()))} tokens; {len(questions)} questions; "
              f"max_tokens {args.max_tokens}; model {Path(model_path).name}; {os.cpu_count()} CPU threads")

        # (a) naive
        started = time.monotonic()
        first_naive_s = None
        for q in questions:
            t0 = time.monotonic()
            r = client.chat(messages_for(doc.body(), TaskSpec("question", question=q)), max_tokens=args.max_tokens,
                            temperature=0, cache_prompt=False, id_slot=0)
            assert r.cached_tokens == 0, r.cached_tokens
            first_naive_s = first_naive_s or time.monotonic() - t0
        naive_s = time.monotonic() - started
        client.slot_erase(0)

        # (b) through analyze
        store = JobStore()
        config = JobConfig(tasks=[TaskSpec("question", question=q) for q in questions], model=model_path,
                           max_tokens=args.max_tokens, kv_save_min_tokens=1024)
        job = store.create("bench-b", config, [doc], [])
        started = time.monotonic()
        assert run_job(store, job, quiet, engine=engine) == "done"
        analyze_s = time.monotonic() - started
        cached = store.db.execute("SELECT sum(cached_tokens), sum(prompt_tokens) FROM units WHERE job_id=?",
                                  (job.id,)).fetchone()
        saved = sorted(kv_dir().glob("*.bin"))
        assert saved, "the document's KV was not saved"

        # (c) engine restart, then a job on the same document restores the KV from disk
        engine.stop()
        engine.start()
        config_c = JobConfig(tasks=config.tasks[:1], model=model_path, max_tokens=args.max_tokens, kv_save_min_tokens=1024)
        job_c = store.create("bench-c", config_c, [doc], [])
        started = time.monotonic()
        assert run_job(store, job_c, quiet, engine=engine) == "done"
        restored_s = time.monotonic() - started
        row = store.db.execute("SELECT is_kv_restored, cached_tokens, prompt_tokens FROM units WHERE job_id=?",
                               (job_c.id,)).fetchone()

    ratio = analyze_s / naive_s
    print(f"(a) naive, {len(questions)} fresh requests:          {naive_s:8.1f} s")
    print(f"(b) heavylift analyze, same questions:         {analyze_s:8.1f} s   ({cached[0]} of {cached[1]} prompt tokens from cache)")
    print(f"    ratio b/a = {ratio:.3f}   (target <= 0.3: {'met' if ratio <= 0.3 else 'NOT met'})")
    print(f"(c) after engine restart, first answer with KV restored from disk ({saved[0].stat().st_size / 2**20:.1f} MiB): "
          f"{restored_s:6.2f} s  (restored={bool(row[0])}, {row[1]} of {row[2]} tokens cached)")
    print(f"    vs (a)'s first question recomputing the document: {first_naive_s:6.2f} s   ratio c/a1 = "
          f"{restored_s / first_naive_s:.3f} ({'restore beats recompute' if restored_s < first_naive_s else 'NOT faster'})")
    return 0 if ratio <= 0.3 and restored_s < first_naive_s else 1


if __name__ == "__main__":
    sys.exit(main())
