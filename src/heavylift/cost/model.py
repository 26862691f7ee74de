"""The cost arithmetic, in the definitions issue 13 states so that every figure can be checked by
hand (docs/cost.md has them with worked examples):

- one request of I input and O output tokens takes I x (1 - F)/P + O/D seconds of machine time,
  F the share of its input served from cache (0 without cache: I/P + O/D);
- hours available per month = 730 x hours-per-day / 24; capacity = hours x 3600 / seconds per unit;
- API monthly = N x (I x input + O x output) / 1e6 with no cache and no batch discount unless asked;
- local monthly = machines x hardware / months + power x busy hours x price (+ idle power x idle hours);
- break-even = the N where local and API monthly are equal.

A unit is a document (its Q questions share it as a prefix) or, with one question, an inference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from heavylift.cost.prices import ApiPrice

HOURS_PER_MONTH = 730.0  # 8,760 h / 12


@dataclass(frozen=True)
class Workload:
    per_month: int  # documents (or inferences when questions_per_doc is 1)
    input_tokens: int  # per request: the document and its question
    output_tokens: int  # per request
    questions_per_doc: int = 1
    cached_share: float | None = None  # given: this share of every request's input comes from a cache
    question_tokens: int = 0  # per request, the part of input_tokens that is not the shared document

    def default_cached_share(self) -> float:
        """Compute-once prefixes: the document is computed for the first question only, so of the
        Q x I input tokens all but one document's worth come from the cache."""
        q = self.questions_per_doc
        return (q - 1) / q * (self.input_tokens - self.question_tokens) / self.input_tokens

    @property
    def cache_share(self) -> float:
        return self.default_cached_share() if self.cached_share is None else self.cached_share


@dataclass(frozen=True)
class Request:
    """One kind of request a unit of work makes: `count` of them, each of these sizes."""

    count: float
    input_tokens: float
    output_tokens: float
    cached_share: float  # of its input
    what: str


@dataclass(frozen=True)
class Split:
    """A document longer than the context: `chunks` parts, each answered, then one combining request."""

    chunks: int
    chunk_tokens: int
    context_tokens: int

    def describe(self, w: Workload, who: str) -> str:
        return (f"{w.input_tokens:,} input tokens do not fit {who}'s {self.context_tokens:,}-token context: split into "
                f"{self.chunks} chunks of <= {self.chunk_tokens:,} tokens, each answered ({w.output_tokens:,} tokens), then "
                f"one combining request over the {self.chunks} answers ({self.chunks * w.output_tokens:,} tokens): "
                f"{self.chunks + 1} requests instead of 1 per question, and no single pass sees the whole document")


def plan_split(w: Workload, context_tokens: int | None) -> Split | None:
    """None when a request fits; otherwise the smallest number of chunks that do (each chunk keeps room
    for the question and the answer)."""
    if not context_tokens or w.input_tokens + w.output_tokens <= context_tokens:
        return None
    room = context_tokens - w.output_tokens - w.question_tokens
    if room <= 0:
        return Split(0, 0, context_tokens)
    document = w.input_tokens - w.question_tokens
    chunks = math.ceil(document / room)
    return Split(chunks, math.ceil(document / chunks) + w.question_tokens, context_tokens)


def requests_per_unit(w: Workload, split: Split | None) -> list[Request]:
    q, f = w.questions_per_doc, w.cache_share
    if split is None:
        return [Request(q, w.input_tokens, w.output_tokens, f, "request")]
    # Each chunk is a document of its own (computed once for the Q questions, like a whole one), plus
    # per question a combining request over the chunks' answers (nothing in it is cached).
    return [Request(q * split.chunks, split.chunk_tokens, w.output_tokens, f, "chunk request"),
            Request(q, split.chunks * w.output_tokens + w.question_tokens, w.output_tokens, 0.0, "combining request")]


def machine_seconds(reqs: list[Request], prefill_tps: float, decode_tps: float) -> float:
    """Seconds of machine time per unit: computed input over prefill speed plus output over decode speed."""
    return sum(r.count * (r.input_tokens * (1 - r.cached_share) / prefill_tps + r.output_tokens / decode_tps)
               for r in reqs)


def api_cost(reqs: list[Request], price: ApiPrice, cached: bool, batch: float | None, questions: int) -> float | None:
    """USD per unit. cached=False: every input token at the input price (the definition's plain
    figure). cached=True: the cached share at the cache-read price, and the tokens that get cached
    written once per document at the cache-write price where the provider lists one. batch: the
    discount applied to every price. None when a price it needs is unknown."""
    total = 0.0
    for r in reqs:
        p_in, p_cached, p_write, p_out = price.rates(r.input_tokens)
        if p_in is None or p_out is None:
            return None
        inp = r.count * r.input_tokens
        cost = inp * p_in + r.count * r.output_tokens * p_out
        if cached and r.cached_share > 0:
            if p_cached is None:
                return None
            reads = inp * r.cached_share
            # one write per document of what later requests read (Q - 1 reads per write)
            writes = reads / (questions - 1) if questions > 1 else 0.0
            writes = min(writes, inp - reads)
            cost += reads * (p_cached - p_in) + (writes * (p_write - p_in) if p_write else 0.0)
        total += cost
    factor = 1.0 - (batch or 0.0)
    return total * factor / 1e6


@dataclass
class LocalSide:
    prefill_tps: float
    decode_tps: float
    hardware_usd: float
    months: float
    electricity_usd_per_kwh: float
    power_w: float
    idle_power_w: float | None
    hours_per_day: float
    context_tokens: int | None  # the local model's context (for the split check); None: not checked
    label: str = "local"

    @property
    def hours_available(self) -> float:
        return HOURS_PER_MONTH * self.hours_per_day / 24


@dataclass
class ApiResult:
    name: str
    model: str
    monthly_usd: float | None  # the headline: no cache / no batch unless asked
    monthly_plain_usd: float | None
    monthly_cached_usd: float | None
    monthly_batch_usd: float | None
    monthly_cached_batch_usd: float | None
    per_unit_usd: float | None
    breakeven_per_month: float | None
    breakeven_note: str
    split: dict | None
    source: str
    source_kind: str
    read_on: str
    notes: list[str] = field(default_factory=list)


@dataclass
class LocalResult:
    seconds_per_unit: float
    seconds_per_unit_no_cache: float
    capacity_per_month: float  # units one machine can do in the hours available (compute-once prefixes)
    capacity_no_cache_per_month: float
    machines_needed: int
    busy_hours: float
    idle_hours: float
    hardware_monthly_usd: float
    energy_busy_usd: float
    energy_idle_usd: float
    monthly_usd: float
    per_unit_usd: float
    split: dict | None


def local_result(w: Workload, local: LocalSide) -> LocalResult:
    split = plan_split(w, local.context_tokens)
    reqs = requests_per_unit(w, split)
    seconds = machine_seconds(reqs, local.prefill_tps, local.decode_tps)
    plain = [Request(r.count, r.input_tokens, r.output_tokens, 0.0, r.what) for r in reqs]
    seconds_plain = machine_seconds(plain, local.prefill_tps, local.decode_tps)
    capacity = local.hours_available * 3600 / seconds
    machines = max(1, math.ceil(w.per_month / capacity))
    busy = w.per_month * seconds / 3600
    idle = machines * local.hours_available - busy if local.idle_power_w else 0.0
    price = local.electricity_usd_per_kwh
    hardware = machines * local.hardware_usd / local.months
    e_busy = local.power_w / 1000 * busy * price
    e_idle = (local.idle_power_w or 0.0) / 1000 * idle * price
    total = hardware + e_busy + e_idle
    return LocalResult(seconds, seconds_plain, capacity, local.hours_available * 3600 / seconds_plain, machines,
                       busy, idle, hardware, e_busy, e_idle, total, total / w.per_month,
                       asdict(split) if split else None)


def breakeven(local: LocalSide, lr: LocalResult, api_per_unit: float | None) -> tuple[float | None, str]:
    """The N where local and API monthly are equal. Local per month is machines(N) x fixed + N x
    marginal, fixed = hardware / months + idle power x hours available x price, marginal = the
    busy-minus-idle energy of one unit; API is N x per-unit. Inside one machine's capacity
    N = fixed / (per-unit - marginal); past it every further machine brings its fixed cost again,
    so if one machine's work never pays for it, no number of machines does."""
    if api_per_unit is None:
        return None, "unknown: the API's price for this workload is unknown"
    price = local.electricity_usd_per_kwh
    idle_w = local.idle_power_w or 0.0
    fixed = local.hardware_usd / local.months + idle_w / 1000 * local.hours_available * price
    marginal = lr.seconds_per_unit / 3600 * (local.power_w - idle_w) / 1000 * price
    if api_per_unit <= marginal:
        return None, "never: the electricity for one unit alone costs more than the API charges for it"
    n = fixed / (api_per_unit - marginal)
    if n > lr.capacity_per_month:
        return None, (f"never: a fully busy machine ({lr.capacity_per_month:,.0f} units/month) saves "
                      f"${lr.capacity_per_month * (api_per_unit - marginal):,.0f} against ${fixed:,.0f} of fixed cost")
    return n, ""


def api_result(w: Workload, price: ApiPrice, local: LocalSide, lr: LocalResult, batch_override: float | None) -> ApiResult:
    split = plan_split(w, price.context_tokens)
    reqs = requests_per_unit(w, split)
    q = w.questions_per_doc
    own_batch = batch_override if batch_override is not None else price.batch_discount
    plain = api_cost(reqs, price, False, None, q)
    cached = api_cost(reqs, price, True, None, q) if w.cache_share > 0 else plain
    batch = api_cost(reqs, price, False, own_batch, q) if own_batch else None
    cached_batch = api_cost(reqs, price, True, own_batch, q) if own_batch and w.cache_share > 0 else batch
    # The headline follows the definition: plain, unless the user asked for cache and/or batch.
    use_cache = w.cached_share is not None
    headline = api_cost(reqs, price, use_cache, batch_override, q)
    notes = []
    if split:
        notes.append(split.describe(w, price.model))
    if price.long_threshold_tokens and any(r.input_tokens > price.long_threshold_tokens for r in reqs):
        notes.append(f"requests above {price.long_threshold_tokens:,} input tokens bill {price.model}'s long-context rates"
                     + ("" if price.long_input is not None else ", which were not read: unknown"))
    if price.context_tokens is None and w.input_tokens + w.output_tokens > 128_000:
        notes.append(f"{price.model}'s context window was not read: whether {w.input_tokens:,} tokens fit is not checked")
    if w.cache_share > 0 and price.cached_input is None:
        notes.append("cached-input price not read for this API: cached figures unknown")
    be, be_note = breakeven(local, lr, headline)
    return ApiResult(
        name=price.name, model=price.model,
        monthly_usd=_m(headline, w), monthly_plain_usd=_m(plain, w), monthly_cached_usd=_m(cached, w),
        monthly_batch_usd=_m(batch, w), monthly_cached_batch_usd=_m(cached_batch, w), per_unit_usd=headline,
        breakeven_per_month=be, breakeven_note=be_note, split=asdict(split) if split else None,
        source=price.source, source_kind=price.source_kind, read_on=price.read_on, notes=notes)


def _m(per_unit: float | None, w: Workload) -> float | None:
    return per_unit * w.per_month if per_unit is not None else None


def local_monthly_at(n: float, local: LocalSide, lr: LocalResult) -> float:
    """Local monthly cost at n units a month (a machine more each time capacity is passed; the
    first machine costs its amortisation even idle)."""
    machines = max(1, math.ceil(n / lr.capacity_per_month))
    price = local.electricity_usd_per_kwh
    idle_w = local.idle_power_w or 0.0
    fixed = local.hardware_usd / local.months + idle_w / 1000 * local.hours_available * price
    return machines * fixed + n * lr.seconds_per_unit / 3600 * (local.power_w - idle_w) / 1000 * price
