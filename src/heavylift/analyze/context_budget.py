"""Context budget: count with the served model's own tokenizer (llama-server /apply-template then
/tokenize, the same path the server takes for a chat request), reserve room for the answer, and
never truncate: a subject that does not fit is reported, or split into chunks with --split."""

from __future__ import annotations

from heavylift.analyze.prompts import MAP_NOTE, TaskSpec, messages_for
from heavylift.engines.client import EngineClient


def prompt_tokens(client: EngineClient, body: str, tasks: list[TaskSpec], note: str = "") -> int:
    """Tokens of the longest prompt any task makes on this body (template and special tokens included)."""
    longest = max(tasks, key=lambda t: len(messages_for("", t)[-1]["content"]))
    return client.count_chat_tokens(messages_for(body, longest, note))


def too_long_message(n_prompt: int, max_tokens: int, n_ctx: int) -> str:
    return (f"too long for the context: {n_prompt} prompt tokens + {max_tokens} for the answer > {n_ctx} "
            f"per slot; raise --ctx (to at least {n_prompt + max_tokens}), or pass --split to map-reduce it in chunks")


def split_body(client: EngineClient, name: str, body: str, tasks: list[TaskSpec], n_ctx: int,
               max_tokens: int, n_body_tokens: int) -> list[str]:
    """Cut the body at line breaks into chunks whose prompts fit (each verified with /tokenize)."""
    overhead = prompt_tokens(client, "", tasks, MAP_NOTE.format(index=99, total=99)) + 32
    room = n_ctx - max_tokens - overhead
    if room < 256:
        raise ValueError(f"the context per slot ({n_ctx}) leaves no room for a chunk after the answer "
                         f"({max_tokens}) and the prompt ({overhead}); raise --ctx")
    chars_per_token = max(len(body) / max(n_body_tokens, 1), 1.0)
    target = int(room * chars_per_token * 0.85)
    while True:
        chunks = _cut(body, target)
        total = len(chunks)
        bodies = [f'<document-part name="{name}" part="{i}/{total}">\n{c}\n</document-part>'
                  for i, c in enumerate(chunks, start=1)]
        sizes = [prompt_tokens(client, b, tasks, MAP_NOTE.format(index=i, total=total))
                 for i, b in enumerate(bodies, start=1)]
        if max(sizes) + max_tokens <= n_ctx:
            return bodies
        target = int(target * 0.8)  # denser text than the average: smaller pieces


def _cut(text: str, max_chars: int) -> list[str]:
    chunks, current = [], ""
    for line in text.splitlines(keepends=True):
        while len(line) > max_chars:  # one enormous line: hard cut
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:max_chars])
            line = line[max_chars:]
        if len(current) + len(line) > max_chars and current:
            chunks.append(current)
            current = ""
        current += line
    if current.strip():
        chunks.append(current)
    return [c.strip("\n") for c in chunks]
