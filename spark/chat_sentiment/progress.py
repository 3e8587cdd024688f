"""One log line per streaming micro-batch, from Spark's progress report (``StreamingQueryProgress.json``).

The line is ``progress`` followed by ``key=value`` fields, so an operator can grep and cut it::

    progress query=messages batch=42 in=812 out=790 dup=22 late=0 state=15233 duration_ms=1840 \
input_rate=81.2/s process_rate=441.3/s watermark=2024-05-01T12:03:10.000Z

- ``in``: records read from the sources; ``out``: rows that reached the sink (the job counts them with
  ``observe``; ``-`` when not counted); ``dup``: duplicates dropped (same id within the dedup delay); ``late``:
  rows dropped as later than the watermark (the aggregates only); ``state``: rows held in state;
  ``duration_ms``: the batch's wall time; the rates are records per second; ``watermark`` when the query has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The name of the ``observe`` metric set the job attaches before each sink, with a ``rows`` count.
OUT_METRICS = "out"


def _rate(value: Any) -> str:
    try:
        return f"{float(value):.1f}/s"
    except (TypeError, ValueError):
        return "-"


def rows_out(progress: Mapping[str, Any]) -> int | None:
    """Rows the batch wrote: the ``observe`` count, else the sink's own count when it reports one."""
    observed = (progress.get("observedMetrics") or {}).get(OUT_METRICS) or {}
    if "rows" in observed and observed["rows"] is not None:
        return int(observed["rows"])
    sink_rows = (progress.get("sink") or {}).get("numOutputRows")
    return int(sink_rows) if isinstance(sink_rows, int) and sink_rows >= 0 else None


def format_progress(progress: Mapping[str, Any]) -> str:
    """The ``progress ...`` line of one progress report (a dict parsed from its JSON)."""
    operators = progress.get("stateOperators") or []
    dup = sum(int((op.get("customMetrics") or {}).get("numDroppedDuplicateRows", 0)) for op in operators)
    late = sum(int(op.get("numRowsDroppedByWatermark", 0) or 0) for op in operators)
    state = sum(int(op.get("numRowsTotal", 0) or 0) for op in operators)
    out = rows_out(progress)
    fields = [
        ("query", progress.get("name") or progress.get("id") or "-"),
        ("batch", progress.get("batchId", "-")),
        ("in", progress.get("numInputRows", 0)),
        ("out", "-" if out is None else out),
    ]
    if operators:
        fields += [("dup", dup), ("late", late), ("state", state)]
    fields += [
        ("duration_ms", (progress.get("durationMs") or {}).get("triggerExecution", "-")),
        ("input_rate", _rate(progress.get("inputRowsPerSecond"))),
        ("process_rate", _rate(progress.get("processedRowsPerSecond"))),
    ]
    watermark = (progress.get("eventTime") or {}).get("watermark")
    if watermark:
        fields.append(("watermark", watermark))
    return "progress " + " ".join(f"{key}={value}" for key, value in fields)
