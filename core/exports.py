"""CSV files for people's spreadsheets. Every CSV the project writes goes through here, so that no
cell can start a formula when a spreadsheet opens it (OWASP "CSV injection")."""

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation

from django.http import HttpResponse, StreamingHttpResponse

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LINES_PER_CHUNK = 1000


def cell(value):
    """A value safe to open in a spreadsheet: text that a spreadsheet would read as a formula
    gets a leading apostrophe (numbers such as ``-3.50`` stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def csv_chunks(rows: Iterable[Iterable]) -> Iterator[str]:
    """The CSV text of ``rows``, a chunk of lines at a time (a generator never holds them all)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for count, row in enumerate(rows, 1):
        writer.writerow([cell(value) for value in row])
        if count % LINES_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(rows: Iterable[Iterable], filename: str, *, stream: bool = False):
    """A CSV download of ``rows``; ``stream`` for exports too long to build in memory."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    content_type = "text/csv"
    if stream:
        return StreamingHttpResponse(csv_chunks(rows), content_type=content_type, headers=headers)
    return HttpResponse("".join(csv_chunks(rows)), content_type=content_type, headers=headers)
