"""Runs carbonledger's SQL view in DuckDB and compares it row by row with the Rust ledger.

Usage: compare_duckdb.py CUR_FILE FACTORS_DIR VIEW_SQL LEDGER_PARQUET [--snake] [--csv]

The factor tables (`carbonledger factors export --format parquet`) are loaded as tables of the
same names; the CUR file is loaded as text columns (as a warehouse table loaded from the CSV
would hold them) into table `cur`, with `cl_line`, its line in the file (header = line 1), for
`--line-column cl_line`. The view `carbonledger_ledger` is then created from VIEW_SQL and every
row is compared with the ledger row of the same `source_line`: the class, estimate kind and
exclusion reason exactly, the quantities and estimates to 1e-9 relative (nulls must agree).
Prints the number of rows compared; exits 1 on any difference.

`--snake` renames the CUR's columns to Athena's snake_case names first (`lineItem/UsageType` →
`line_item_usage_type`), for a view made with `--cur-names snake`. `--csv` loads the factor
tables from their CSV export (types detected by DuckDB, as an upload would) instead of Parquet.
`--gcp` reads CUR_FILE as a GCP billing export in BigQuery's JSON lines (a view made with
`--provider gcp`).
"""
import pathlib
import re
import sys

import duckdb

TEXT = ["estimate_kind", "usage_class", "exclusion_reason", "region", "region_note",
        "instance_type", "cpu_architecture", "gpu_model", "service", "usage_type", "currency",
        "usage_unit", "charge_type", "billing_account", "usage_account", "provider", "method",
        "factor_set"]
NUMBERS = ["vcpu_hours", "gpu_hours", "memory_gb_hours", "storage_tb_hours", "network_gb",
           "usage_amount", "cost", "watts_per_vcpu", "pue", "replication_factor", "cpu_kwh",
           "gpu_kwh", "memory_kwh", "storage_kwh", "network_kwh", "energy_kwh",
           "grid_kg_per_kwh", "grid_year", "market_kg_per_kwh", "scope2_location_kg",
           "scope2_market_kg", "scope3_embodied_kg", "ccf_kwh"]
TIMES = ["period_start", "period_end"]


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) or (a == b)


def snake(name):
    """The AWS connector's `legacy_to_snake`, for the test's renaming."""
    out = ""
    for c in name:
        if c in "/:":
            out += "_"
        elif c.isupper():
            if out and not out.endswith("_"):
                out += "_"
            out += c.lower()
        else:
            out += c
    return out


def main():
    cur, factors, sql, ledger = sys.argv[1:5]
    flags = sys.argv[5:]
    db = duckdb.connect()
    db.execute("SET threads = 1")
    db.execute("SET TimeZone = 'UTC'")
    if "--csv" in flags:
        for table in sorted(pathlib.Path(factors).glob("*.csv")):
            db.execute(f"CREATE TABLE {table.stem} AS SELECT * FROM read_csv('{table}')")
    else:
        for table in sorted(pathlib.Path(factors).glob("*.parquet")):
            db.execute(f"CREATE TABLE {table.stem} AS SELECT * FROM read_parquet('{table}')")
    if "--gcp" in flags:
        # BigQuery's JSON lines export: nested records and repeated fields as DuckDB structs
        # and lists; `cl_line` is the line (the Rust reader's `source_line`).
        db.execute(
            "CREATE TABLE cur AS SELECT *, CAST(row_number() OVER () AS BIGINT) AS cl_line "
            f"FROM read_json('{cur}', format = 'newline_delimited')"
        )
    else:
        db.execute(
            "CREATE TABLE cur AS SELECT *, CAST(row_number() OVER () + 1 AS BIGINT) AS cl_line "
            f"FROM read_csv('{cur}', header = true, all_varchar = true)"
        )
    if "--snake" in flags:
        names = [r[0] for r in db.execute("DESCRIBE cur").fetchall()]
        for name in names:
            if name != "cl_line":
                new = snake(name)
                db.execute(f'ALTER TABLE cur RENAME COLUMN "{name}" TO "{new}"')
    db.execute(pathlib.Path(sql).read_text())
    columns = TEXT + NUMBERS + TIMES
    select = ", ".join(
        f"CAST({c} AS TIMESTAMP)" if c in TIMES else c for c in columns)
    view = {r[0]: dict(zip(columns, r[1:])) for r in db.execute(
        f"SELECT source_line, {select} FROM carbonledger_ledger").fetchall()}
    kinds = db.execute(
        "SELECT estimate_kind, count(*), sum(energy_kwh), sum(scope2_location_kg) "
        "FROM carbonledger_ledger GROUP BY ALL ORDER BY ALL").fetchall()
    print(f"{cur}: by kind {kinds}")
    report(view, rust_rows(ledger))


def rust_rows(ledger):
    """The Rust ledger's rows by `source_line`."""
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    columns = TEXT + NUMBERS + TIMES
    select = ", ".join(
        f"CAST({c} AS TIMESTAMP)" if c in TIMES else c for c in columns)
    return {r[0]: dict(zip(columns, r[1:])) for r in db.execute(
        f"SELECT source_line, {select} FROM read_parquet('{ledger}')").fetchall()}


def report(view, rust):
    """Compares the view's rows with Rust's by line; prints and exits 1 on a difference."""
    problems = []
    if len(view) != len(rust) or set(view) != set(rust):
        problems.append(f"rows: view {len(view)}, Rust {len(rust)}; lines only in the view "
                        f"{sorted(set(view) - set(rust))[:10]}, only in Rust "
                        f"{sorted(set(rust) - set(view))[:10]}")
    for line in sorted(set(view) & set(rust)):
        v, r = view[line], rust[line]
        for c in TEXT + TIMES:
            if v[c] != r[c]:
                problems.append(f"line {line} {c}: view {v[c]!r}, Rust {r[c]!r}")
        for c in NUMBERS:
            if not close(v[c], r[c]):
                problems.append(f"line {line} {c}: view {v[c]!r}, Rust {r[c]!r}")
    print(f"{len(rust)} Rust rows, {len(view)} view rows")
    for p in problems[:40]:
        print("  " + p)
    if problems:
        print(f"{len(problems)} differences")
        sys.exit(1)
    print(f"{len(rust)} rows equal to 1e-9")

if __name__ == "__main__":
    main()
