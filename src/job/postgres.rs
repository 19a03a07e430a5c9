//! The optional PostgreSQL sink of the batch job: the ledger's rows in one table for BI
//! tools, kept equal to the Parquet ledger partition by partition.
//!
//! Two tables (`TABLE` is `[postgres] table`, default `carbonledger_ledger`):
//!
//! * `TABLE`: every ledger column (text, double precision, integer, bigint, and `timestamp`
//!   for the period columns, UTC without a zone as in the Parquet files) plus
//!   `ledger_id` (the ledger folder's id, kept in its state: several ledgers can share a
//!   table), `ledger_source` (the source's name), `month` (`YYYY-MM`) and `row_number` (the
//!   row's place in its partition file); primary key (`ledger_id`, `ledger_source`,
//!   `provider`, `month`, `row_number`).
//! * `TABLE_partitions`: which partition file each source's rows came from (SHA-256, rows,
//!   sync time).
//!
//! A sync compares the SHA-256 of every partition in the ledger's state with the table's;
//! a partition that differs (or is new) is replaced in one transaction (delete its rows, COPY
//! the file's rows in), a partition the ledger no longer has is deleted. So the table is an
//! upsert of the ledger at partition grain, a second sync with nothing new changes nothing,
//! and a sink that was down catches up at the next run. The connection URL comes from an
//! environment variable, never from the config file.

use std::path::Path;

use chrono::NaiveDateTime;
use polars::prelude::*;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls};

use crate::Error;
use crate::job::store::State;

/// What a sync did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Synced {
    /// `source provider=…/month=…` replaced, with their rows.
    pub replaced: Vec<(String, u64)>,
    pub unchanged: usize,
    pub deleted: Vec<String>,
}

/// A connection to the sink's database.
pub struct PgSink {
    client: Client,
    table: String,
    /// The URL without its password, for messages.
    shown: String,
}

impl PgSink {
    /// Connects to `url` (a `postgresql://` URL or `key=value` string) and makes sure the
    /// tables exist with the columns of `ledger_schema`.
    pub fn connect(url: &str, table: &str, ledger_schema: &Schema) -> Result<PgSink, Error> {
        let shown = hide_password(url);
        let client = Client::connect(url, NoTls)
            .map_err(|e| Error::Sink(format!("PostgreSQL {shown}: cannot connect: {e}")))?;
        let mut sink = PgSink {
            client,
            table: table.to_owned(),
            shown,
        };
        sink.create_tables(ledger_schema)?;
        Ok(sink)
    }

    fn fail(&self, what: &str) -> impl Fn(postgres::Error) -> Error + use<> {
        failure(&self.shown, &self.table, what)
    }

    fn create_tables(&mut self, schema: &Schema) -> Result<(), Error> {
        let mut columns = vec![
            "ledger_id text NOT NULL".to_owned(),
            "ledger_source text NOT NULL".to_owned(),
            "month text NOT NULL".to_owned(),
            "row_number bigint NOT NULL".to_owned(),
        ];
        for (name, dtype) in schema.iter() {
            columns.push(format!("\"{name}\" {}", pg_type(dtype).1));
        }
        columns.push("PRIMARY KEY (ledger_id, ledger_source, provider, month, row_number)".into());
        let t = &self.table;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {t} ({});
             CREATE TABLE IF NOT EXISTS {t}_partitions (
                 ledger_id text NOT NULL, ledger_source text NOT NULL, provider text NOT NULL,
                 month text NOT NULL,
                 sha256 text NOT NULL, rows bigint NOT NULL,
                 synced_at timestamptz NOT NULL DEFAULT now(),
                 PRIMARY KEY (ledger_id, ledger_source, provider, month));",
            columns.join(", ")
        );
        // A table made by the first version of this sink (before `ledger_id`) cannot be
        // upgraded in place without knowing which ledger its rows came from: say so.
        let old = self
            .client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL AND NOT EXISTS (
                     SELECT 1 FROM pg_attribute
                     WHERE attrelid = to_regclass($1) AND attname = 'ledger_id')",
                &[&self.table],
            )
            .map_err(self.fail("checking the table's columns"))?;
        if old.get::<_, bool>(0) {
            return Err(Error::Sink(format!(
                "PostgreSQL {} {t}: the table has no `ledger_id` column (made by an earlier \
                 carbonledger); drop {t} and {t}_partitions, or name another `[postgres] \
                 table`, and the next run fills it again",
                self.shown
            )));
        }
        let result = self.client.batch_execute(&sql);
        result.map_err(self.fail("creating the tables"))
    }

    /// Brings the tables in line with the ledger at `root` whose state is `state`.
    pub fn sync(&mut self, root: &Path, state: &State) -> Result<Synced, Error> {
        let t = self.table.clone();
        let ledger = state.ledger_id.clone();
        // Only this ledger's partitions: another ledger's rows in the same table are not ours
        // to replace or delete.
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT ledger_source, provider, month, sha256 FROM {t}_partitions \
                     WHERE ledger_id = $1"
                ),
                &[&ledger],
            )
            .map_err(self.fail("reading the synced partitions"))?;
        let mut known: std::collections::BTreeMap<(String, String, String), String> = rows
            .iter()
            .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
            .collect();
        let mut done = Synced::default();
        for (source, source_state) in &state.sources {
            for (key, part) in &source_state.partitions {
                let (provider, month) = split_key(key);
                let id = (source.clone(), provider.to_owned(), month.to_owned());
                if known.remove(&id).as_deref() == Some(part.sha256.as_str()) {
                    done.unchanged += 1;
                    continue;
                }
                let file = root.join(key).join(format!("{source}.parquet"));
                let n = self.replace(&ledger, &id, &file, &part.sha256)?;
                done.replaced.push((format!("{source} {key}"), n));
            }
        }
        for (source, provider, month) in known.into_keys() {
            let fail = self.fail("deleting a partition the ledger no longer has");
            let mut tx = self.client.transaction().map_err(&fail)?;
            let args: [&(dyn ToSql + Sync); 4] = [&ledger, &source, &provider, &month];
            let deleted = tx
                .execute(
                    &format!(
                        "DELETE FROM {t} WHERE ledger_id = $1 AND ledger_source = $2 \
                         AND provider = $3 AND month = $4"
                    ),
                    &args,
                )
                .and_then(|_| {
                    tx.execute(
                        &format!(
                            "DELETE FROM {t}_partitions WHERE ledger_id = $1 \
                             AND ledger_source = $2 AND provider = $3 AND month = $4"
                        ),
                        &args,
                    )
                })
                .and_then(|_| tx.commit());
            deleted.map_err(fail)?;
            done.deleted
                .push(format!("{source} provider={provider}/month={month}"));
        }
        Ok(done)
    }

    /// Replaces one partition's rows by the rows of `file`, in one transaction.
    fn replace(
        &mut self,
        ledger: &String,
        (source, provider, month): &(String, String, String),
        file: &Path,
        sha256: &str,
    ) -> Result<u64, Error> {
        let handle = std::fs::File::open(file).map_err(|source| Error::Output {
            path: file.display().to_string(),
            source,
        })?;
        let df = ParquetReader::new(handle)
            .finish()
            .map_err(Error::polars(format!("reading {}", file.display())))?;
        let columns = Cells::new(&df).map_err(Error::polars("preparing rows for PostgreSQL"))?;
        let t = self.table.clone();
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect();
        let mut types = vec![Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8];
        types.extend(df.columns().iter().map(|c| pg_type(c.dtype()).0));
        let shown = self.shown.clone();
        let fail = |what: &str| failure(&shown, &t, what);
        let mut tx = self
            .client
            .transaction()
            .map_err(fail("starting a transaction"))?;
        let key: [&(dyn ToSql + Sync); 4] = [ledger, source, provider, month];
        tx.execute(
            &format!(
                "DELETE FROM {t} WHERE ledger_id = $1 AND ledger_source = $2 \
                 AND provider = $3 AND month = $4"
            ),
            &key,
        )
        .map_err(fail("deleting the partition's old rows"))?;
        let copy = format!(
            "COPY {t} (ledger_id, ledger_source, month, row_number, {}) FROM STDIN BINARY",
            names.join(", ")
        );
        let writer = tx.copy_in(&copy).map_err(fail("starting COPY"))?;
        let mut writer = BinaryCopyInWriter::new(writer, &types);
        let mut row: Vec<Cell<'_>> = Vec::with_capacity(types.len());
        for i in 0..df.height() {
            row.clear();
            row.push(Cell::Text(Some(ledger)));
            row.push(Cell::Text(Some(source)));
            row.push(Cell::Text(Some(month)));
            row.push(Cell::Big(Some(i as i64)));
            columns.push_row(i, &mut row);
            let values: Vec<&(dyn ToSql + Sync)> =
                row.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            writer.write(&values).map_err(fail("copying rows"))?;
        }
        let copied = writer.finish().map_err(fail("finishing COPY"))?;
        let rows = copied as i64;
        tx.execute(
            &format!(
                "INSERT INTO {t}_partitions
                     (ledger_id, ledger_source, provider, month, sha256, rows)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (ledger_id, ledger_source, provider, month)
                 DO UPDATE SET sha256 = EXCLUDED.sha256, rows = EXCLUDED.rows,
                               synced_at = now()"
            ),
            &[ledger, source, provider, month, &sha256, &rows],
        )
        .map_err(fail("recording the partition"))?;
        tx.commit().map_err(fail("committing"))?;
        Ok(copied)
    }
}

/// A PostgreSQL error as a sink error naming the server, the table and the step.
fn failure(shown: &str, table: &str, what: &str) -> impl Fn(postgres::Error) -> Error + use<> {
    let context = format!("PostgreSQL {shown} {table}: {what}");
    move |e| {
        let detail = e
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_else(|| e.to_string());
        Error::Sink(format!("{context}: {detail}"))
    }
}

/// `provider=aws/month=2026-10` → (`aws`, `2026-10`).
fn split_key(key: &str) -> (&str, &str) {
    let mut parts = key.split('/');
    let provider = parts.next().unwrap_or("").trim_start_matches("provider=");
    let month = parts.next().unwrap_or("").trim_start_matches("month=");
    (provider, month)
}

/// The PostgreSQL type of a ledger column.
fn pg_type(dtype: &DataType) -> (Type, &'static str) {
    match dtype {
        DataType::Float64 | DataType::Float32 => (Type::FLOAT8, "double precision"),
        DataType::Int32 => (Type::INT4, "integer"),
        DataType::Int64 | DataType::UInt64 | DataType::UInt32 => (Type::INT8, "bigint"),
        DataType::Datetime(_, _) => (Type::TIMESTAMP, "timestamp"),
        _ => (Type::TEXT, "text"),
    }
}

/// A URL with its password replaced by `***`.
fn hide_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(connection string)".into(),
    }
}

/// One value of a row, typed as its column.
#[derive(Debug)]
enum Cell<'a> {
    Text(Option<&'a str>),
    Float(Option<f64>),
    Int(Option<i32>),
    Big(Option<i64>),
    Time(Option<NaiveDateTime>),
}

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Float(v) => v.to_sql(ty, out),
            Cell::Int(v) => v.to_sql(ty, out),
            Cell::Big(v) => v.to_sql(ty, out),
            Cell::Time(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::TEXT,
            Type::FLOAT8,
            Type::INT4,
            Type::INT8,
            Type::TIMESTAMP,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

/// A frame's columns, ready to be read row by row.
enum Values {
    Text(StringChunked),
    Float(Float64Chunked),
    Int(Int32Chunked),
    Big(Int64Chunked),
    Time(Int64Chunked, TimeUnit),
}

struct Cells {
    columns: Vec<Values>,
}

impl Cells {
    fn new(df: &DataFrame) -> PolarsResult<Cells> {
        let mut columns = Vec::new();
        for column in df.columns() {
            let series = column.as_materialized_series().rechunk();
            columns.push(match series.dtype() {
                DataType::Float64 | DataType::Float32 => {
                    Values::Float(series.cast(&DataType::Float64)?.f64()?.clone())
                }
                DataType::Int32 => Values::Int(series.i32()?.clone()),
                DataType::Int64 | DataType::UInt64 | DataType::UInt32 => {
                    Values::Big(series.cast(&DataType::Int64)?.i64()?.clone())
                }
                DataType::Datetime(unit, _) => {
                    Values::Time(series.datetime()?.physical().clone(), *unit)
                }
                _ => Values::Text(series.cast(&DataType::String)?.str()?.clone()),
            });
        }
        Ok(Cells { columns })
    }

    fn push_row<'a>(&'a self, i: usize, row: &mut Vec<Cell<'a>>) {
        for column in &self.columns {
            row.push(match column {
                Values::Text(c) => Cell::Text(c.get(i)),
                Values::Float(c) => Cell::Float(c.get(i)),
                Values::Int(c) => Cell::Int(c.get(i)),
                Values::Big(c) => Cell::Big(c.get(i)),
                Values::Time(c, unit) => Cell::Time(c.get(i).and_then(|v| {
                    let micros = match unit {
                        TimeUnit::Nanoseconds => v / 1_000,
                        TimeUnit::Microseconds => v,
                        TimeUnit::Milliseconds => v * 1_000,
                    };
                    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
                })),
            });
        }
    }
}
