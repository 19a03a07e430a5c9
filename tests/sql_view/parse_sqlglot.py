"""Parses a generated view with sqlglot in its dialect (`athena` is Trino's syntax) and prints
what the statement is, the view it creates and every table it reads, lower-cased, one line
each. Exits 1 (with sqlglot's message) when the text does not parse.

Usage: parse_sqlglot.py DIALECT FILE
"""
import sys

import sqlglot
from sqlglot import exp


def main():
    dialect, path = sys.argv[1:3]
    text = open(path).read()
    statements = [s for s in sqlglot.parse(text, read=dialect,
                                           error_level=sqlglot.ErrorLevel.RAISE) if s]
    assert len(statements) == 1, f"{len(statements)} statements"
    create = statements[0]
    assert isinstance(create, exp.Create), type(create).__name__
    print(f"create {create.args['kind'].lower()} {create.this.name.lower()}")
    ctes = {c.alias.lower() for c in create.find_all(exp.CTE)}
    tables = sorted({t.name.lower() for t in create.find_all(exp.Table)} - ctes)
    for t in tables:
        print(f"reads {t}")
    print(f"{len(ctes)} CTEs; sqlglot {sqlglot.__version__}")


if __name__ == "__main__":
    main()
