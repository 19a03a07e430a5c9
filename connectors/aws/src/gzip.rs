//! Streaming gzip decompression into a temporary file, so that polars can scan the plain file
//! without the whole report ever being held in memory.
//!
//! Multi-member gzip (as written by concatenating gzip streams) is read to the end. A broken or
//! truncated stream is an error that names the `.gz` file and how far decompression got, in
//! complete decompressed lines.

use std::fs::File;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::Path;

use carbonledger_usage::{Location, SourceError};
use flate2::read::MultiGzDecoder;
use tempfile::NamedTempFile;

const CHUNK: usize = 256 * 1024;

/// Decompresses `path` into a new temporary file whose name ends in `suffix` (`.csv`,
/// `.parquet`). The file is deleted when the returned handle is dropped.
pub fn gunzip_to_temp(path: &Path, suffix: &str) -> Result<NamedTempFile, SourceError> {
    let shown = path.display().to_string();
    let input = File::open(path).map_err(|e| SourceError::io(&shown, e))?;
    let compressed_len = input
        .metadata()
        .map_err(|e| SourceError::io(&shown, e))?
        .len();
    if compressed_len == 0 {
        return Err(SourceError::invalid(Location::file(&shown), "empty file"));
    }
    let temp = tempfile::Builder::new()
        .prefix("carbonledger-cur-")
        .suffix(suffix)
        .tempfile()
        .map_err(|e| SourceError::io("temporary file for decompression", e))?;
    let mut decoder = MultiGzDecoder::new(BufReader::with_capacity(CHUNK, input));
    let mut out = BufWriter::with_capacity(CHUNK, temp.as_file());
    let mut buffer = vec![0u8; CHUNK];
    let mut lines: u64 = 0;
    loop {
        let n = match decoder.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(SourceError::invalid(
                    Location::file(&shown).at_line(lines + 1),
                    format!(
                        "gzip data is broken or truncated: decompression stopped after \
                         {lines} complete lines ({e})"
                    ),
                ));
            }
        };
        let chunk = &buffer[..n];
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        out.write_all(chunk)
            .map_err(|e| SourceError::io(temp.path().display(), e))?;
    }
    out.flush()
        .map_err(|e| SourceError::io(temp.path().display(), e))?;
    drop(out);
    let decompressed_len = temp
        .as_file()
        .metadata()
        .map_err(|e| SourceError::io(temp.path().display(), e))?
        .len();
    if decompressed_len == 0 {
        return Err(SourceError::invalid(
            Location::file(&shown),
            "empty file (after gunzip)",
        ));
    }
    Ok(temp)
}
