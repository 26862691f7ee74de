"""`heavylift kv list | clean`: the saved KV-cache files analyze keeps (and their size cap)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from heavylift.cli.common import human_bytes, positive_float, say


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("kv", help=summary, description=
                       "Saved KV-cache files: analyze saves a long document's prompt state after its first "
                       "answer and restores it in later runs instead of recomputing it. Files over the cap "
                       "(analyze --kv-max-gib, default 20) are removed least recently used first.")
    ksub = p.add_subparsers(dest="kv_command", metavar="ACTION", required=True)
    ls = ksub.add_parser("list", help="saved files (least recently used first), their total, and the "
                                      "architectures whose restore does nothing on this engine build")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)
    clean = ksub.add_parser("clean", help="delete saved files: all, or down to a size")
    which = clean.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="delete every saved file (also ones `serve` users saved)")
    which.add_argument("--max-gib", type=positive_float, metavar="GIB",
                       help="delete least recently used files analyze wrote until they total at most this")
    which.add_argument("--older-than-days", type=positive_float, metavar="DAYS",
                       help="delete files not used for this many days")
    clean.add_argument("--json", action="store_true", help="print what was removed as JSON")
    clean.add_argument("--forget-unrestorable", action="store_true",
                       help="also forget which architectures did not restore (they are tried again)")
    clean.set_defaults(func=run_clean)


def run_list(args: argparse.Namespace) -> int:
    from heavylift.analyze.kv_cache import KVCacheStore, kv_dir

    store = KVCacheStore()
    files = store.files()
    unrestorable = store.unrestorable()
    total = sum(f.num_bytes for f in files)
    if args.json:
        print(json.dumps({"folder": str(kv_dir()), "total_bytes": total, "files": [asdict(f) for f in files],
                          "unrestorable": [{"architecture": a, "engine_version": v, "reason": r}
                                           for a, v, r in unrestorable]}, indent=2))
        return 0
    print(f"{len(files)} saved KV file(s), {human_bytes(total)} in {kv_dir()}")
    if files:
        print(f"{'LAST USED':17} {'SIZE':>10} {'TOKENS':>7}  {'MODEL':24} FILE")
    for f in files:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(f.last_used_at)) if f.last_used_at else "unknown"
        model = f.model or ("(not analyze's)" if not f.is_indexed else "unknown")
        tokens = str(f.num_tokens) if f.num_tokens is not None else "-"
        print(f"{used:17} {human_bytes(f.num_bytes):>10} {tokens:>7}  {model[:24]:24} {f.name}")
    for arch, version, reason in unrestorable:
        print(f"not saved for {arch} on {version}: {reason}")
    return 0


def run_clean(args: argparse.Namespace) -> int:
    from heavylift.analyze.kv_cache import KVCacheStore

    store = KVCacheStore()
    gone = store.clean(everything=args.all,
                       max_bytes=int(args.max_gib * 1024**3) if args.max_gib is not None else None,
                       unused_for_s=args.older_than_days * 86400 if args.older_than_days is not None else None)
    freed = sum(f.num_bytes for f in gone)
    say(f"kv: removed {len(gone)} file(s), {human_bytes(freed)} freed")
    forgotten = store.forget_unrestorable() if args.forget_unrestorable else 0
    if args.forget_unrestorable:
        say(f"kv: forgot {forgotten} unrestorable architecture note(s)")
    if args.json:
        print(json.dumps({"removed": [f.name for f in gone], "freed_bytes": freed,
                          "unrestorable_notes_forgotten": forgotten}, indent=2))
    return 0
