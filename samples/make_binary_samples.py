"""Regenerate the two binary samples (nda.docx, paper.pdf) from the text below.

    python samples/make_binary_samples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.analyze.docmaker import make_docx, make_pdf  # noqa: E402

NDA = [
    "This Mutual Non-Disclosure Agreement (the \"Agreement\") is entered into on 3 April 2025 (the \"Effective Date\") "
    "between Quill Robotics GmbH, Leopoldstrasse 42, 80802 Munich, Germany (\"Quill\"), and Sable Medical Devices Ltd., "
    "5 Harcourt Road, Dublin 2, Ireland (\"Sable\"). Each party may disclose (\"Discloser\") or receive (\"Recipient\") "
    "Confidential Information.",
    "1. Purpose. The parties wish to evaluate a possible collaboration on surgical-robot sensor modules (the \"Purpose\").",
    "2. Confidential Information means any technical, commercial or financial information disclosed by the Discloser, in "
    "any form, that is marked confidential or that a reasonable person would understand to be confidential. It does not "
    "include information that is or becomes public through no fault of the Recipient, was lawfully known to the Recipient "
    "before disclosure, is independently developed, or is received from a third party without a duty of confidence.",
    "3. Obligations. The Recipient shall use Confidential Information only for the Purpose, protect it with at least the "
    "care it uses for its own confidential information (and no less than reasonable care), and disclose it only to its "
    "employees and advisers who need to know it for the Purpose and are bound by equivalent obligations.",
    "4. Compelled disclosure. If required by law or a court to disclose Confidential Information, the Recipient shall, "
    "where lawful, give the Discloser prompt written notice so that it may seek a protective order.",
    "5. Term. This Agreement lasts two (2) years from the Effective Date. Either party may terminate it earlier on thirty "
    "(30) days' written notice. The confidentiality obligations survive for five (5) years after termination or expiry; "
    "for trade secrets they survive for as long as the information remains a trade secret.",
    "6. Return of materials. On request, or on termination, the Recipient shall return or destroy all Confidential "
    "Information within fourteen (14) days and confirm this in writing.",
    "7. No licence. No licence under any patent, copyright or other right is granted by this Agreement.",
    "8. Remedies. Each party acknowledges that damages may not be an adequate remedy for breach and that the Discloser "
    "may seek injunctive relief.",
    "9. Governing law. This Agreement is governed by the laws of Ireland, and the courts of Dublin have exclusive jurisdiction.",
    "Signed by Dr. Lena Vogt, CEO, for Quill Robotics GmbH, and by Ciaran Byrne, General Counsel, for Sable Medical Devices Ltd.",
]

PAPER = [
    "Prefix Reuse for Batch Question Answering over Long Documents\n"
    "A. Moreau (Universite de Lyon), K. Tanaka (Kyoto Institute of Technology)\n"
    "Abstract. Analysts often ask many questions about the same long document. When each question is sent as an "
    "independent request, a transformer recomputes the key-value (KV) cache for the whole document every time. We "
    "measure how much of this work can be avoided by keeping the document as a shared prompt prefix and by persisting "
    "its KV cache to disk. On a corpus of 120 contracts (mean length 9,400 tokens) and 12 questions per contract, prefix "
    "reuse reduced total prefill computation by 91% and end-to-end time by 7.8x on a single consumer GPU.",
    "1. Introduction. Prefill cost grows linearly with prompt length for the projections and quadratically for "
    "attention. For a 9,400-token document and a 30-token question, more than 99% of the prompt is the document. "
    "Serving engines such as llama.cpp and vLLM can reuse a cached prefix when consecutive requests share it exactly, "
    "but only if requests are routed to the slot that holds the prefix and the prompt is assembled so that the "
    "document comes before the question.",
    "2. Method. We group all questions for a document and send them back-to-back to one engine slot, with the system "
    "prompt and document first and the question last. After the first answer we save the slot's KV cache to disk, "
    "keyed by a hash of the prefix and the model. A later job, or the same job after a crash, restores the file "
    "instead of recomputing. We compare against a naive baseline that sends every question with the full document and "
    "prompt caching disabled.",
    "3. Results. With 12 questions per document, the naive baseline spent 94% of its time in prefill. Prefix reuse cut "
    "the time per document from 212 s to 27 s. Restoring a 9,400-token prefix from an NVMe disk took 0.6 s against "
    "19 s to recompute it. Answer quality was unchanged, since the computation is identical. The main limitation is "
    "disk use: the KV cache of a 70B model with grouped-query attention takes about 320 KB per token.",
    "4. Conclusion. Routing by document and persisting prefixes turns batch document analysis from prefill-bound to "
    "decode-bound. Future work: sharing prefixes across documents with common boilerplate, and compressing saved KV "
    "caches. Funding: this work was supported by grant ANR-23-CE23-0042.",
]

if __name__ == "__main__":
    make_docx(HERE / "documents" / "nda.docx", "Mutual Non-Disclosure Agreement", NDA)
    (HERE / "documents" / "paper.pdf").write_bytes(make_pdf(PAPER))
    print("wrote samples/documents/nda.docx and samples/documents/paper.pdf")
