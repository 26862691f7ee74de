"""Context budget: count with the served model's own tokenizer (llama-server /apply-template then
/tokenize, the same path the server takes for a chat request), reserve room for the answer, and
never truncate: a subject that does not fit is reported, or split into chunks with --split."""

from __future__ import annotations

from heavylift.analyze.prompts import MAP_NOTE, TaskSpec, messages_for
from heavylift.engines.client import EngineClient


def _tokens(client: EngineClient, body: str, task: TaskSpec, note: str = "") -> list[int]:
    return client.tokenize(client.apply_template(messages_for(body, task, note)), add_special=True)


def prompt_tokens(client: EngineClient, body: str, tasks: list[TaskSpec], note: str = "") -> int:
    """Tokens of the longest prompt any task makes on this body (template and special tokens included)."""
    longest = max(tasks, key=lambda t: len(messages_for("", t)[-1]["content"]))
    return client.count_chat_tokens(messages_for(body, longest, note))


def prefix_tokens(client: EngineClient, body: str, tasks: list[TaskSpec], note: str = "") -> int:
    """Tokens every task's prompt on this body starts with (system prompt + document): what the engine
    can reuse from its cache. Measured as the common token prefix of prompts with differently worded
    tasks, so a token that merges across the document's end is not counted."""
    probes = [tasks[0], TaskSpec("question", question="?"), TaskSpec("summarize")]
    lists = [_tokens(client, body, t, note) for t in probes]
    n = 0
    for column in zip(*lists, strict=False):
        if len(set(column)) != 1:
            break
        n += 1
    return n


def too_long_message(n_prompt: int, max_tokens: int, n_ctx: int, n_ctx_train: int | None,
                     is_own_engine: bool = True) -> str:
    """Why a subject does not fit, with advice that can work: more context only while the model's
    trained context allows it (llama-server caps each slot there: server-context.cpp n_ctx_slot())."""
    need = n_prompt + max_tokens
    head = f"too long for the context: {n_prompt} prompt tokens + {max_tokens} for the answer > {n_ctx} per slot"
    options = []
    if n_prompt < n_ctx:
        options.append(f"lower --max-tokens to {n_ctx - n_prompt} or less")
    if n_ctx_train and need > n_ctx_train:
        options.append("pass --split to map-reduce it in chunks")
        options.append(f"or use a model with a longer context (this one was trained on {n_ctx_train} tokens)")
        return f"{head}; {', '.join(options)}"
    if is_own_engine:
        options.append(f"raise --ctx-per-slot to at least {need}")
    else:
        options.append(f"restart the endpoint with at least {need} tokens per slot")
    options.append("or pass --split to map-reduce it in chunks")
    return f"{head}; {', '.join(options)}"


def split_body(client: EngineClient, name: str, body: str, tasks: list[TaskSpec], n_ctx: int,
               max_tokens: int, n_body_tokens: int) -> list[str]:
    """Cut the body at line breaks into chunks whose prompts fit (each verified with /tokenize)."""
    overhead = prompt_tokens(client, "", tasks, MAP_NOTE.format(index=99, total=99)) + 32
    room = n_ctx - max_tokens - overhead
    if room < 256:
        raise ValueError(f"the context per slot ({n_ctx}) leaves no room for a chunk after the answer "
                         f"({max_tokens}) and the prompt ({overhead}); raise --ctx-per-slot or lower --max-tokens")
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
