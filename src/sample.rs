//! The sample CUR embedded in the binary, so that `carbonledger estimate --sample` works on a
//! fresh machine with no billing data. It is synthetic: see `fixtures/sample/README.md`.

use std::path::{Path, PathBuf};

use crate::Error;

/// What the ledger's `source` column says for sample rows.
pub const LABEL: &str = "embedded:cur-sample-2026-10.csv.gz";

const FILE_NAME: &str = "cur-sample-2026-10.csv.gz";
const BYTES: &[u8] = include_bytes!("../fixtures/sample/cur-sample-2026-10.csv.gz");

/// Writes the sample into `dir` and returns its path.
pub fn write_to(dir: &Path) -> Result<PathBuf, Error> {
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, BYTES).map_err(|source| Error::Output {
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}
