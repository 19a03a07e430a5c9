"""Runs carbonledger's Spark SQL query in a local PySpark session and compares it row by row
with the Rust ledger (as `compare_duckdb.py` does for DuckDB).

Usage: compare_spark.py CUR_CSV FACTORS_DIR QUERY_SQL LEDGER_PARQUET

QUERY_SQL is `carbonledger sql --dialect spark --query-only --table cur --line-column cl_line`
(a session's temporary views cannot back a permanent view, so the bare query is run). The CUR
rows are read with Python's csv module, every cell as text (`cl_line` = line in the file,
header = line 1), the factor tables from their Parquet export.
"""
import csv
import datetime
import gzip
import pathlib
import sys

from pyspark.sql import SparkSession
from pyspark.sql.types import LongType, StringType, StructField, StructType

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from compare_duckdb import NUMBERS, TEXT, TIMES, report, rust_rows  # noqa: E402


def main():
    cur, factors, sql, ledger = sys.argv[1:5]
    spark = (SparkSession.builder.master("local[1]").appName("carbonledger-sql-view")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for table in sorted(pathlib.Path(factors).glob("*.parquet")):
        spark.read.parquet(str(table)).createOrReplaceTempView(table.stem)
    opener = gzip.open if cur.endswith(".gz") else open
    with opener(cur, "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [[c if c != "" else None for c in row] + [i + 2] for i, row in enumerate(reader)]
    schema = StructType([StructField(h, StringType()) for h in header]
                        + [StructField("cl_line", LongType())])
    spark.createDataFrame(rows, schema).createOrReplaceTempView("cur")
    result = spark.sql(pathlib.Path(sql).read_text().rstrip().rstrip(";"))
    columns = TEXT + NUMBERS + TIMES
    view = {}
    for r in result.select(["source_line"] + columns).collect():
        row = r.asDict()
        for c in TIMES:
            if isinstance(row[c], datetime.datetime):
                row[c] = row[c].replace(tzinfo=None)
        view[row["source_line"]] = {c: row[c] for c in columns}
    print(f"{cur}: Spark {spark.version}")
    report(view, rust_rows(ledger))
    spark.stop()


if __name__ == "__main__":
    main()
