#!/usr/bin/env python3
"""Writes the bad-input catalogue's files (tests/bad_inputs/<provider>/...) from the project's
own fixtures (fixtures/), so every case is a small, reviewable change of a known-good bill.

Run from this folder: `python3 make_cases.py`. Python standard library only. The expected
outcome of each case is in catalogue.toml beside it (written by hand: which line and column
was broken, which rows are excluded and why); tests/bad_inputs.rs checks them.
"""
import csv
import gzip
import io
import os
import shutil
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "fixtures")


def fixture(path):
    return os.path.join(FIXTURES, path)


def load(path):
    with open(fixture(path), newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


def csv_bytes(rows, delimiter=","):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def put(path, data):
    path = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def gz(data):
    # mtime 0: the same bytes on every run of this script.
    return gzip.compress(data, compresslevel=9, mtime=0)


def corrupt_gzip(data):
    """A gzip stream whose deflate data has one byte flipped in its middle."""
    packed = bytearray(gz(data))
    packed[len(packed) // 2] ^= 0xFF
    return bytes(packed)


def cell(rows, line, column, value):
    """Sets the cell of file line `line` (header = 1) in column `column` (its header name)."""
    at = rows[0].index(column)
    rows[line - 1][at] = value
    return rows


def base(path, lines):
    """The header of a fixture and its data lines `lines` (file line numbers, header = 1)."""
    rows = load(path)
    return [list(rows[0])] + [list(rows[n - 1]) for n in lines]


def drop_column(rows, column):
    at = rows[0].index(column)
    return [r[:at] + r[at + 1:] for r in rows]


def duplicate_column(rows, column):
    at = rows[0].index(column)
    return [r[: at + 1] + [r[at]] + r[at + 1:] for r in rows]


def latin1_in(rows, line, column, text):
    """The CSV with `text` (containing é) at that cell, encoded as Latin-1 on that line only."""
    marker = "\u0001MARK\u0001"
    rows = cell([list(r) for r in rows], line, column, marker)
    data = csv_bytes(rows)
    return data.replace(marker.encode(), text.encode("latin-1"))


def parquet_cases(prefix, source):
    data = open(fixture(source), "rb").read()
    put(f"{prefix}/truncated.parquet", data[: len(data) // 2])
    # The footer's length field (the 4 bytes before the closing magic) pointing past the start.
    footer = bytearray(data)
    footer[-8:-4] = (len(data) * 2).to_bytes(4, "little")
    put(f"{prefix}/bad_footer.parquet", bytes(footer))
    # Thrift metadata overwritten with 0xFF bytes just before the length field.
    meta = bytearray(data)
    meta[-40:-8] = b"\xff" * 32
    put(f"{prefix}/corrupt_metadata.parquet", bytes(meta))
    put(f"{prefix}/not_parquet.parquet", b"PAR1 this is text, not a Parquet file\n")


def common_cases(prefix, rows, number_column, date_column, number_line=2):
    """The kinds every CSV reader must handle, built from `rows` (a good bill)."""
    good = csv_bytes(rows)
    put(f"{prefix}/good.csv", good)
    put(f"{prefix}/bom.csv", b"\xef\xbb\xbf" + good)
    put(f"{prefix}/crlf.csv", good.replace(b"\n", b"\r\n"))
    put(f"{prefix}/semicolon.csv", csv_bytes(rows, ";"))
    put(f"{prefix}/tab.csv", csv_bytes(rows, "\t"))
    put(f"{prefix}/utf16.csv", good.decode("utf-8").encode("utf-16"))
    put(f"{prefix}/empty.csv", b"")
    put(f"{prefix}/header_only.csv", csv_bytes(rows[:1]))
    put(f"{prefix}/blank_lines.csv", good + b"\n\n")
    put(f"{prefix}/truncated.csv.gz", gz(good)[: len(gz(good)) // 2])
    put(f"{prefix}/corrupt.csv.gz", corrupt_gzip(good))
    put(f"{prefix}/plain_text.csv.gz", good)
    put(f"{prefix}/good.csv.gz", gz(good))
    put(f"{prefix}/missing_cost_column.csv", csv_bytes(drop_column(rows, number_column)))
    put(f"{prefix}/duplicated_cost_column.csv", csv_bytes(duplicate_column(rows, number_column)))
    put(f"{prefix}/bad_number.csv",
        csv_bytes(cell([list(r) for r in rows], number_line, number_column, "1.2.3")))
    put(f"{prefix}/nan_cost.csv",
        csv_bytes(cell([list(r) for r in rows], number_line, number_column, "NaN")))
    put(f"{prefix}/infinite_cost.csv",
        csv_bytes(cell([list(r) for r in rows], number_line, number_column, "1e400")))
    put(f"{prefix}/huge_cost.csv",
        csv_bytes(cell([list(r) for r in rows], number_line, number_column, "1234567890123.5")))
    put(f"{prefix}/bad_date.csv",
        csv_bytes(cell([list(r) for r in rows], 3, date_column, "not-a-date")))
    # The last line cut in the middle, without its line break (a truncated download).
    put(f"{prefix}/truncated_line.csv", good[: good.rstrip(b"\n").rfind(b"\n") + 40])


def aws():
    # Lines of legacy_mixed.csv: 2 EC2 m5.xlarge (1.92 USD, estimated), 16 NAT gateway hours
    # (1.08 USD, ratio), 17 Tax (0.5 USD, excluded).
    rows = base("aws/legacy_mixed.csv", [2, 16, 17])
    common_cases("aws", rows, "lineItem/UnblendedCost", "lineItem/UsageStartDate")
    put("aws/latin1_operation.csv",
        latin1_in(rows, 3, "lineItem/Operation", "NatGatewayé"))
    put("aws/negative_usage.csv",
        csv_bytes(cell([list(r) for r in rows], 2, "lineItem/UsageAmount", "-10")))
    credit = [list(r) for r in rows] + [list(rows[3])]
    cell(credit, 5, "identity/LineItemId", "line099")
    cell(credit, 5, "lineItem/LineItemType", "Credit")
    cell(credit, 5, "lineItem/UnblendedCost", "-5")
    cell(credit, 5, "lineItem/NetUnblendedCost", "-5")
    put("aws/credit.csv", csv_bytes(credit))
    unknown = [list(r) for r in rows]
    cell(unknown, 2, "product/region", "mars-north-1")
    cell(unknown, 2, "lineItem/UsageType", "MRS1-BoxUsage:m5.xlarge")
    put("aws/unknown_region.csv", csv_bytes(unknown))
    unit = [list(r) for r in rows]
    cell(unit, 3, "pricing/unit", "Widget-Fortnights")
    cell(unit, 3, "lineItem/UsageType", "USE1-Widget-Fortnights")
    put("aws/unknown_unit.csv", csv_bytes(unit))
    service = [list(r) for r in rows]
    cell(service, 3, "lineItem/ProductCode", "AmazonQuantumLedger")
    cell(service, 3, "lineItem/UsageType", "USE1-QuantumOps")
    cell(service, 3, "lineItem/Operation", "Entangle")
    put("aws/unknown_service.csv", csv_bytes(service))
    put("aws/unknown_line_item_type.csv",
        csv_bytes(cell([list(r) for r in rows], 4, "lineItem/LineItemType", "Mystery")))
    parquet_cases("aws", "aws/cur2_parquet_layout/pq-export/data/BILLING_PERIOD=2023-11/"
                  "pq-export-00001.snappy.parquet")
    # A delivery whose manifest names a part that is not there.
    layout = os.path.join(HERE, "aws/missing_part")
    shutil.rmtree(layout, ignore_errors=True)
    shutil.copytree(fixture("aws/legacy_layout"), layout)
    os.remove(os.path.join(layout, "cur-report/20231101-20231201/b2222222-new/"
                           "cur-report-2.csv.gz"))
    layout2 = os.path.join(HERE, "aws/cur2_missing_part")
    shutil.rmtree(layout2, ignore_errors=True)
    shutil.copytree(fixture("aws/cur2_layout"), layout2)
    os.remove(os.path.join(layout2, "my-export/data/BILLING_PERIOD=2023-11/"
                           "my-export-00002.csv.gz"))


def gcp():
    # Lines of export_mixed.csv: 2 N1 cores (0.126 USD, credit -0.0252), 17 Cloud DNS
    # queries (0.4 USD), 20 Tax (0.42 USD).
    rows = base("gcp/export_mixed.csv", [2, 17, 20])
    common_cases("gcp", rows, "cost", "usage_start_time")
    put("gcp/latin1_sku.csv", latin1_in(rows, 3, "sku.description", "DNS Query (port 53) é"))
    unknown = [list(r) for r in rows]
    for column in ["location.location", "location.region"]:
        cell(unknown, 2, column, "mars-north1")
    cell(unknown, 2, "location.zone", "mars-north1-a")
    put("gcp/unknown_region.csv", csv_bytes(unknown))
    put("gcp/unknown_unit.csv",
        csv_bytes(cell([list(r) for r in rows], 3, "usage.unit", "widget-fortnights")))
    service = [list(r) for r in rows]
    cell(service, 3, "service.description", "Quantum Ledger")
    cell(service, 3, "sku.description", "Entanglement operations")
    put("gcp/unknown_service.csv", csv_bytes(service))
    put("gcp/bad_credits.csv",
        csv_bytes(cell([list(r) for r in rows], 2, "credits", '[{"name":"x","amount":')))
    put("gcp/negative_usage.csv",
        csv_bytes(cell([list(r) for r in rows], 2, "usage.amount", "-14400")))
    lines = open(fixture("gcp/export_mixed.jsonl"), "rb").read().splitlines(keepends=True)
    put("gcp/good.jsonl", b"".join([lines[0], lines[15], lines[18]]))
    put("gcp/bad_json.jsonl", lines[0] + b'{"billing_account_id": "01A2B3", "cost": }\n')
    put("gcp/not_an_object.jsonl", lines[0] + b"[1, 2, 3]\n")
    parquet_cases("gcp", "gcp/export_flat.parquet")


def azure():
    # Lines of ea_actual.csv: 3 VM D2 v3 (2.304 USD), 9 Azure Bastion (4.56 USD), 14 Tax
    # (3.50 USD).
    rows = base("azure/ea_actual.csv", [3, 9, 14])
    common_cases("azure", rows, "Cost", "Date")
    put("azure/latin1_meter.csv", latin1_in(rows, 3, "MeterName", "Basic Gateway é"))
    unknown = [list(r) for r in rows]
    cell(unknown, 2, "ResourceLocation", "Mars North")
    put("azure/unknown_region.csv", csv_bytes(unknown))
    put("azure/unknown_unit.csv",
        csv_bytes(cell([list(r) for r in rows], 3, "UnitOfMeasure", "1 Widget-Fortnight")))
    service = [list(r) for r in rows]
    cell(service, 3, "MeterCategory", "Quantum Ledger")
    cell(service, 3, "MeterName", "Entanglement Operations")
    put("azure/unknown_service.csv", csv_bytes(service))
    refund = [list(r) for r in rows] + [list(rows[1])]
    cell(refund, 5, "ChargeType", "Refund")
    cell(refund, 5, "Cost", "-2.304")
    put("azure/refund.csv", csv_bytes(refund))
    put("azure/negative_quantity.csv",
        csv_bytes(cell([list(r) for r in rows], 2, "Quantity", "-24")))
    parquet_cases("azure", "azure/ea_actual.parquet")
    layout = os.path.join(HERE, "azure/missing_part")
    shutil.rmtree(layout, ignore_errors=True)
    shutil.copytree(fixture("azure/layout"), layout)
    os.remove(os.path.join(layout, "exports/daily/costs-actual/20230901-20230930/"
                           "0a1b2c3d-0000-4000-8000-000000000001/part_1_0001.csv"))


def focus():
    # Lines of aws_focus_1_2.csv: 2 EC2 m5.xlarge (4.608 USD), 9 NAT gateway (1.08 USD),
    # 10 Tax (1.5 USD).
    rows = base("focus/aws_focus_1_2.csv", [2, 9, 10])
    common_cases("focus", rows, "EffectiveCost", "ChargePeriodStart")
    put("focus/latin1_service.csv",
        latin1_in(rows, 3, "ServiceName", "Amazon Elastic Compute Cloud é"))
    unknown = [list(r) for r in rows]
    cell(unknown, 2, "RegionId", "mars-north-1")
    put("focus/unknown_region.csv", csv_bytes(unknown))
    unit = [list(r) for r in rows]
    cell(unit, 3, "ConsumedUnit", "Widget-Fortnights")
    cell(unit, 3, "PricingUnit", "Widget-Fortnights")
    put("focus/unknown_unit.csv", csv_bytes(unit))
    service = [list(r) for r in rows]
    cell(service, 3, "ServiceName", "Amazon Quantum Ledger")
    cell(service, 3, "ServiceCategory", "Other")
    cell(service, 3, "x_ServiceCode", "AmazonQuantumLedger")
    cell(service, 3, "x_UsageType", "USE1-QuantumOps")
    put("focus/unknown_service.csv", csv_bytes(service))
    put("focus/bad_category.csv",
        csv_bytes(cell([list(r) for r in rows], 2, "ChargeCategory", "Gift")))
    credit = [list(r) for r in rows] + [list(rows[3])]
    cell(credit, 5, "ChargeCategory", "Credit")
    for column in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"]:
        cell(credit, 5, column, "-3")
    put("focus/credit.csv", csv_bytes(credit))
    put("focus/negative_quantity.csv",
        csv_bytes(cell([list(r) for r in rows], 2, "ConsumedQuantity", "-24")))
    parquet_cases("focus", "focus/aws_focus_1_2.parquet")


if __name__ == "__main__":
    for provider in [aws, gcp, azure, focus]:
        provider()
