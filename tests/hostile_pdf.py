"""Small PDFs that cost a PDF reader a lot of work (issue 9 point 5).

:func:`shared_stream_pdf` writes ``pages`` pages that all draw one shared,
compressed content stream of ``operators`` text operators: a few KiB on disk,
a fresh parse of the whole stream for every page a reader extracts.
"""

from __future__ import annotations

import zlib


def shared_stream_pdf(pages: int = 2000, operators: int = 600_000) -> bytes:
    """A valid PDF of ``pages`` pages sharing one content stream of ``operators`` operators."""
    ops = b"BT /F1 12 Tf 72 720 Td (Weather report) Tj ET\n"
    ops += b"0 0 Td\n" * (operators - 6)
    stream = zlib.compress(ops, 9)
    first_page = 5
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (first_page + i) for i in range(pages))
        + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
    objects += [page] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
