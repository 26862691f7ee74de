"""Benchmark prompts: real English prose, different for every request, generated (no downloads).

Each request gets its own seeded mix of sentences (contract clauses, technical notes, reports,
narrative), with its own numbers, names and order, and starts with its own record line: no two
prompts share a prefix the engine's prompt cache could reuse, and there is no long repeated run
for chunk reuse (`--cache-reuse`) to find. The text is written here, so it is ours to ship.
"""

from __future__ import annotations

import random

PARTIES = ["the Supplier", "the Customer", "the Licensor", "the Licensee", "the Contractor", "the Owner",
           "the Tenant", "the Landlord", "the Borrower", "the Lender", "each Party", "the Service Provider",
           "the Purchaser", "the Seller", "the Agent", "the Employer", "the Consultant", "the Distributor"]
ACTIONS = ["deliver", "inspect", "maintain", "insure", "repair", "disclose", "return", "replace", "audit",
           "certify", "store", "document", "approve", "reimburse", "notify", "invoice", "test", "ship"]
OBJECTS = ["the equipment", "all confidential information", "the premises", "the deliverables", "the software",
           "the records", "the goods", "any spare parts", "the design documents", "the samples", "the vehicles",
           "the source code escrow", "the monthly reports", "the safety certificates", "the invoices"]
TIMES = ["within {n} days", "no later than {n} business days after notice", "before the end of each quarter",
         "at least {n} days in advance", "promptly and in any event within {n} hours", "on or before the {o} of each month",
         "during the first {n} months of the term", "within a reasonable time, not exceeding {n} weeks"]
CONDITIONS = ["unless otherwise agreed in writing", "subject to clause {c}", "provided that no default has occurred",
              "except as required by law", "to the extent reasonably practicable", "at its own cost and expense",
              "in accordance with good industry practice", "save for any obligation expressly surviving termination"]
SUBJECTS = ["The pump station", "The northern reservoir", "The test bench", "The third prototype", "The survey team",
            "The regional office", "The audit committee", "The control group", "The field crew", "The shipment",
            "The turbine", "The backup generator", "The new compiler", "The sample of {n} households",
            "The customer panel", "The bridge deck", "The laboratory", "The pilot plant", "The harvest"]
FINDINGS = ["showed a drop of {p} percent in output", "ran {p} percent above its rated load for {n} hours",
            "reported {n} incidents, none of them serious", "needed {n} more days than planned",
            "used {p} percent less water than the year before", "passed every inspection except the last one",
            "recorded an average delay of {n} minutes", "exceeded the budget by {p} percent",
            "met the target in {n} of the {m} months", "was closed for {n} days after the storm"]
CAUSES = ["a worn bearing", "late deliveries from the mill", "the cold spring", "a software fault in the logger",
          "a shortage of trained staff", "higher fuel prices", "a change in the sampling method",
          "flooding on the access road", "an error in the original drawings", "strong demand in the south"]
PEOPLE = ["Ada Moreno", "Tomas Berg", "Priya Nair", "Kwame Mensah", "Lena Fischer", "Omar Haddad", "Mei Lin",
          "Jonas Weber", "Sofia Rossi", "Daniel Okafor", "Hana Sato", "Lucas Ferreira", "Ingrid Holm", "Ravi Iyer"]
PLACES = ["the harbour", "the old mill", "the station", "the hill above the town", "the market square",
          "the river bank", "the library", "the workshop", "the border crossing", "the orchard", "the clinic"]
MOODS = ["quietly", "at once", "without a word", "after a long pause", "with some reluctance", "cheerfully",
         "for the second time that week", "before anyone could stop her", "as the light was failing"]
DEEDS = ["walked down to", "wrote a letter from", "waited for the others at", "counted the crates at",
         "argued with the foreman at", "found the missing ledger at", "repaired the gate at", "closed the shutters at"]
TOPICS = ["memory bandwidth", "the cooling loop", "error correction", "the scheduling policy", "data retention",
          "the power budget", "cache behaviour", "the failure rate", "load balancing", "the audit trail",
          "the sampling interval", "latency under load", "the calibration step", "disk throughput"]
VERBS = ["dominates", "limits", "improves", "complicates", "explains", "hides", "reduces", "doubles", "stabilises"]
HEADINGS = ["Scope", "Payment Terms", "Warranties", "Maintenance", "Findings", "Background", "Method", "Results",
            "Discussion", "Termination", "Liability", "Field Notes", "Recommendations", "Schedule", "Observations"]

TEMPLATES = [
    "{party} shall {action} {object} {time}, {condition}.",
    "If {party} fails to {action} {object} {time}, {party2} may terminate this Agreement by written notice.",
    "Neither party is liable for delay caused by events beyond its reasonable control, {condition}.",
    "{party} may not assign its rights under clause {c} without the prior consent of {party2}.",
    "All amounts are payable {time} of receipt of a valid invoice, {condition}.",
    "{party} warrants that {object} will conform to the specification for {n} months from acceptance.",
    "{subject} {finding}, mainly because of {cause}.",
    "In the second review, {subject2} {finding}; the team traced this to {cause}.",
    "According to {person}, {topic} {verb} the results more than any other factor.",
    "We measured {topic} on {n} machines over {m} weeks and saw a spread of {p} percent.",
    "{person} {mood} {deed} {place}.",
    "On the {o} day, {person} {deed} {place} and did not return until evening.",
    "{person} asked whether {topic} could be checked again before the {o} of the month.",
    "Table {c} lists the figures for each site; the median is {n} and the largest value is {m}.",
    "The committee noted that {topic} {verb} the cost, and asked {person} to report by the {o}.",
    "Interest on late payments accrues at {p} percent per year, {condition}.",
    "{subject} {finding}, which {person} had predicted in the spring.",
    "Notices must be sent to the address in clause {c} and take effect {time}.",
]


class TextGenerator:
    """Seeded prose: `paragraphs()` yields an endless, never-repeating document."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.seed = seed

    def _fill(self, template: str) -> str:
        r = self.rng
        n, m = r.randint(2, 90), r.randint(91, 400)
        values = {
            "party": r.choice(PARTIES), "party2": r.choice(PARTIES), "action": r.choice(ACTIONS),
            "object": r.choice(OBJECTS), "time": r.choice(TIMES), "condition": r.choice(CONDITIONS),
            "subject": r.choice(SUBJECTS), "subject2": r.choice(SUBJECTS).lower(), "finding": r.choice(FINDINGS),
            "cause": r.choice(CAUSES), "person": r.choice(PEOPLE), "place": r.choice(PLACES), "mood": r.choice(MOODS),
            "deed": r.choice(DEEDS), "topic": r.choice(TOPICS), "verb": r.choice(VERBS),
            "n": n, "m": m, "p": r.randint(2, 60), "c": f"{r.randint(1, 30)}.{r.randint(1, 9)}",
            "o": _ordinal(r.randint(1, 28)),
        }
        # Slots may hold slots of their own ("within {n} days"): fill twice.
        text = template.format(**values)
        text = text.format(**values) if "{" in text else text
        return text[0].upper() + text[1:]

    def paragraphs(self):
        section = 0
        yield f"Record {self.seed:08x}. {self._fill(self.rng.choice(TEMPLATES))}"
        while True:
            if self.rng.random() < 0.25:
                section += 1
                yield f"## {section}. {self.rng.choice(HEADINGS)}"
            yield " ".join(self._fill(self.rng.choice(TEMPLATES)) for _ in range(self.rng.randint(2, 6)))

    def text(self, num_chars: int) -> str:
        out: list[str] = []
        size = 0
        for para in self.paragraphs():
            out.append(para)
            size += len(para) + 2
            if size >= num_chars:
                break
        return "\n\n".join(out)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
