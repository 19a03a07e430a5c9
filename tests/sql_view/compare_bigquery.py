"""Runs carbonledger's BigQuery view in bqemulator over GCP export rows and compares it row by
row with the Rust ledger of the same rows (as `compare_duckdb.py` does for DuckDB).

Usage: compare_bigquery.py BQEMULATOR DUCK_HOME EXPORT_JSONL FACTORS_DIR VIEW_SQL QUERY_SQL
       LEDGER_PARQUET

Starts the emulator on a free port of 127.0.0.1 (HOME = DUCK_HOME, which holds the DuckDB
extensions it installs offline; emulators.md B.3), creates the datasets `billing` and
`carbonledger`, the export table `billing.export` with the billing export's nested schema plus
`cl_line` (the row's line in EXPORT_JSONL, the Rust reader's `source_line`) and inserts the
rows with `tabledata.insertAll`; every factor table of FACTORS_DIR (Parquet) becomes a table of
`carbonledger` with the Parquet columns' types. VIEW_SQL (`CREATE OR REPLACE VIEW
local.carbonledger.carbonledger_ledger AS …`) is run with `jobs.query`, then the view is
selected; QUERY_SQL, the same query without the view, is run too, and both results must equal
the Rust rows. The emulator is stopped by its process id at the end.
"""
import datetime
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import duckdb

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from compare_duckdb import NUMBERS, TEXT, TIMES, report, rust_rows  # noqa: E402

PROJECT = "local"


def field(name, kind, mode="NULLABLE", fields=None):
    f = {"name": name, "type": kind, "mode": mode}
    if fields:
        f["fields"] = fields
    return f


def s(name):
    return field(name, "STRING")


def key_value(name):
    return field(name, "RECORD", "REPEATED", [s("key"), s("value")])


# The standard billing export's schema (as connectors/gcp/tests/bigquery/harness.rs builds it).
EXPORT_SCHEMA = [
    s("billing_account_id"),
    field("service", "RECORD", fields=[s("id"), s("description")]),
    field("sku", "RECORD", fields=[s("id"), s("description")]),
    field("usage_start_time", "TIMESTAMP"),
    field("usage_end_time", "TIMESTAMP"),
    field("project", "RECORD", fields=[s("id"), s("number"), s("name"), key_value("labels")]),
    key_value("labels"),
    key_value("system_labels"),
    field("location", "RECORD", fields=[s("location"), s("country"), s("region"), s("zone")]),
    field("export_time", "TIMESTAMP"),
    field("cost", "FLOAT"),
    s("currency"),
    field("currency_conversion_rate", "FLOAT"),
    field("usage", "RECORD", fields=[field("amount", "FLOAT"), s("unit"),
                                     field("amount_in_pricing_units", "FLOAT"),
                                     s("pricing_unit")]),
    field("credits", "RECORD", "REPEATED", [s("name"), field("amount", "FLOAT"), s("full_name"),
                                            s("id"), s("type")]),
    field("invoice", "RECORD", fields=[s("month")]),
    s("cost_type"),
    field("cl_line", "INTEGER"),
]
TIMESTAMPS = {"usage_start_time", "usage_end_time", "export_time"}


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"bqemulator {method} {path}: HTTP {e.code}: {e.read()[:2000]!r}")


def start(server, home):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    log = tempfile.NamedTemporaryFile(prefix="carbonledger-bq-", suffix=".log", delete=False)
    child = subprocess.Popen(
        [server, "start", "--rest-host", "127.0.0.1", "--rest-port", str(port),
         "--grpc-host", "127.0.0.1", "--grpc-port", "0", "--project", PROJECT,
         "--log-format", "console", "--log-level", "warning"],
        env={**os.environ, "HOME": home}, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"bqemulator exited: {pathlib.Path(log.name).read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{base}/bigquery/v2/projects/{PROJECT}/datasets", timeout=5)
            return child, base
        except OSError:
            time.sleep(0.3)
    child.terminate()
    raise SystemExit("bqemulator did not answer within 90 s")


def iso(text):
    """A BigQuery export timestamp (`2024-01-15 10:00:00 UTC`, RFC 3339) as RFC 3339 UTC."""
    t = text.strip().replace(" UTC", "+00:00").replace("Z", "+00:00").replace(" ", "T", 1)
    return datetime.datetime.fromisoformat(t).astimezone(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def bq_type(duck):
    duck = duck.upper()
    if duck in ("DOUBLE", "FLOAT"):
        return "FLOAT"
    if duck in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"):
        return "INTEGER"
    return "STRING"


def run_query(base, sql):
    answer = call(base, "POST", f"/bigquery/v2/projects/{PROJECT}/queries",
                  {"query": sql, "useLegacySql": False, "maxResults": 100000,
                   "timeoutMs": 120000})
    schema = answer.get("schema", {}).get("fields", [])
    rows = list(answer.get("rows", []))
    token = answer.get("pageToken")
    job = answer.get("jobReference", {}).get("jobId")
    while token:
        page = call(base, "GET", f"/bigquery/v2/projects/{PROJECT}/queries/{job}"
                    f"?pageToken={token}&maxResults=100000")
        rows.extend(page.get("rows", []))
        token = page.get("pageToken")
    return schema, rows


def decode(schema, rows):
    """f/v rows as dicts of Python values (TIMESTAMP: int µs or float seconds → naive UTC)."""
    out = []
    for row in rows:
        values = {}
        for f, cell in zip(schema, row["f"]):
            v = cell["v"]
            if v is not None:
                if f["type"] in ("FLOAT", "FLOAT64"):
                    v = float(v)
                elif f["type"] in ("INTEGER", "INT64"):
                    v = int(v)
                elif f["type"] == "TIMESTAMP":
                    x = float(v)
                    seconds = x / 1e6 if abs(x) > 1e11 else x
                    v = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
            values[f["name"]] = v
        out.append(values)
    return out


def by_line(rows):
    return {r["source_line"]: {c: r[c] for c in TEXT + NUMBERS + TIMES} for r in rows}


def main():
    server, home, export, factors, view_sql, query_sql, ledger = sys.argv[1:8]
    child, base = start(server, home)
    try:
        for dataset in ("billing", "carbonledger"):
            call(base, "POST", f"/bigquery/v2/projects/{PROJECT}/datasets",
                 {"datasetReference": {"projectId": PROJECT, "datasetId": dataset}})

        def table(dataset, name, fields, rows):
            call(base, "POST", f"/bigquery/v2/projects/{PROJECT}/datasets/{dataset}/tables",
                 {"tableReference": {"projectId": PROJECT, "datasetId": dataset,
                                     "tableId": name}, "schema": {"fields": fields}})
            for i in range(0, len(rows), 500):
                answer = call(base, "POST", f"/bigquery/v2/projects/{PROJECT}/datasets/"
                              f"{dataset}/tables/{name}/insertAll",
                              {"rows": [{"json": r} for r in rows[i:i + 500]]})
                if answer.get("insertErrors"):
                    raise SystemExit(f"insertAll {dataset}.{name}: {answer}")

        names = {f["name"] for f in EXPORT_SCHEMA}
        rows = []
        for i, text in enumerate(pathlib.Path(export).read_text().splitlines()):
            row = {k: v for k, v in json.loads(text).items() if k in names}
            for k in TIMESTAMPS & set(row):
                if row[k] is not None:
                    row[k] = iso(row[k])
            row["cl_line"] = i + 1
            rows.append(row)
        table("billing", "export", EXPORT_SCHEMA, rows)

        db = duckdb.connect()
        for path in sorted(pathlib.Path(factors).glob("*.parquet")):
            described = db.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
            fields = [field(c[0], bq_type(c[1])) for c in described]
            values = db.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
            table("carbonledger", path.stem, fields,
                  [dict(zip([f["name"] for f in fields], v)) for v in values])

        rust = rust_rows(ledger)
        schema, result = run_query(base, pathlib.Path(query_sql).read_text())
        print(f"{export}: the query in bqemulator")
        report(by_line(decode(schema, result)), rust)
        run_query(base, pathlib.Path(view_sql).read_text())
        schema, result = run_query(
            base, f"SELECT * FROM `{PROJECT}.carbonledger.carbonledger_ledger`")
        print(f"{export}: the view in bqemulator")
        report(by_line(decode(schema, result)), rust)
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    main()
