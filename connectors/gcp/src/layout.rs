//! Which files an input path stands for, and how each is stored.
//!
//! * A file: that file, in the format its name says (`.csv`, `.csv.gz`, `.json`, `.jsonl`,
//!   `.ndjson`, their `.gz`, `.parquet`); a `.gz` of another name is CSV or JSON lines by its
//!   first character after decompression (`{` is JSON lines); any other name by its content
//!   (`PAR1` is Parquet, the gzip magic is gzip, `{` is JSON lines, anything else CSV).
//! * A folder: every file with one of the names above, searched recursively (hidden entries
//!   skipped), in path order. BigQuery writes a large export as many numbered files
//!   (`export-000000000000.csv`), which is what this reads.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use carbonledger_usage::{Location, SourceError};
use flate2::read::MultiGzDecoder;

/// Deepest folder level searched below the input.
const MAX_DEPTH: usize = 8;

/// How a data file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    GzipCsv,
    JsonLines,
    GzipJsonLines,
    Parquet,
}

impl FileFormat {
    /// The format a file name says; `None` for names that are not export files (and for a
    /// bare `.gz`, whose content decides).
    pub fn from_name(name: &str) -> Option<FileFormat> {
        let lower = name.to_ascii_lowercase();
        let json =
            |s: &str| s.ends_with(".json") || s.ends_with(".jsonl") || s.ends_with(".ndjson");
        if let Some(inner) = lower.strip_suffix(".gz") {
            if json(inner) {
                return Some(FileFormat::GzipJsonLines);
            }
            return inner.ends_with(".csv").then_some(FileFormat::GzipCsv);
        }
        if json(&lower) {
            Some(FileFormat::JsonLines)
        } else if lower.ends_with(".parquet") {
            Some(FileFormat::Parquet)
        } else if lower.ends_with(".csv") {
            Some(FileFormat::Csv)
        } else {
            None
        }
    }

    pub fn is_gzip(self) -> bool {
        matches!(self, FileFormat::GzipCsv | FileFormat::GzipJsonLines)
    }

    /// `CSV`, `gzip CSV`, `JSON lines`, `gzip JSON lines`, `Parquet`.
    pub fn label(self) -> &'static str {
        match self {
            FileFormat::Csv => "CSV",
            FileFormat::GzipCsv => "gzip CSV",
            FileFormat::JsonLines => "JSON lines",
            FileFormat::GzipJsonLines => "gzip JSON lines",
            FileFormat::Parquet => "Parquet",
        }
    }
}

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub path: PathBuf,
    /// How the file is named in messages and in the rows' `source`.
    pub shown: String,
    pub format: FileFormat,
}

/// The files of `path`, in reading order.
pub fn discover(path: &Path) -> Result<Vec<DataFile>, SourceError> {
    let shown = path.display().to_string();
    let meta = fs::metadata(path).map_err(|e| SourceError::io(&shown, e))?;
    if meta.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let format = match FileFormat::from_name(&name) {
            Some(format) => format,
            None => sniff(path)?,
        };
        return Ok(vec![DataFile {
            path: path.to_path_buf(),
            shown,
            format,
        }]);
    }
    let mut files = Vec::new();
    walk(path, 0, &mut files)?;
    if files.is_empty() {
        return Err(SourceError::invalid(
            Location::file(shown),
            "no GCP billing export files (.csv, .json, .jsonl, .ndjson, each also .gz, or \
             .parquet) in the folder",
        ));
    }
    Ok(files)
}

fn walk(dir: &Path, depth: usize, files: &mut Vec<DataFile>) -> Result<(), SourceError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let listing = fs::read_dir(dir).map_err(|e| SourceError::io(dir.display(), e))?;
    let mut paths = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| SourceError::io(dir.display(), e))?;
        paths.push(entry.path());
    }
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let meta = fs::metadata(&path).map_err(|e| SourceError::io(path.display(), e))?;
        if meta.is_dir() {
            walk(&path, depth + 1, files)?;
            continue;
        }
        let format = match FileFormat::from_name(&name) {
            Some(format) => Some(format),
            None if name.to_ascii_lowercase().ends_with(".gz") => Some(sniff(&path)?),
            None => None,
        };
        if let Some(format) = format {
            files.push(DataFile {
                shown: path.display().to_string(),
                path,
                format,
            });
        }
    }
    Ok(())
}

/// The format of a file by its first bytes (see the module docs).
pub fn sniff(path: &Path) -> Result<FileFormat, SourceError> {
    let shown = path.display().to_string();
    let mut head = [0u8; 4];
    let n = read_prefix(
        File::open(path).map_err(|e| SourceError::io(&shown, e))?,
        &mut head,
    )
    .map_err(|e| SourceError::io(&shown, e))?;
    let head = &head[..n];
    if head.starts_with(b"PAR1") {
        return Ok(FileFormat::Parquet);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let file = File::open(path).map_err(|e| SourceError::io(&shown, e))?;
        let mut first = [0u8; 64];
        let n = read_prefix(MultiGzDecoder::new(BufReader::new(file)), &mut first)
            .map_err(|e| SourceError::invalid(Location::file(&shown), format!("gzip: {e}")))?;
        return Ok(if starts_json(&first[..n]) {
            FileFormat::GzipJsonLines
        } else {
            FileFormat::GzipCsv
        });
    }
    Ok(if starts_json(head) {
        FileFormat::JsonLines
    } else {
        FileFormat::Csv
    })
}

fn starts_json(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

fn read_prefix(mut reader: impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_file_name() {
        let f = FileFormat::from_name;
        assert_eq!(f("export-000000000000.csv"), Some(FileFormat::Csv));
        assert_eq!(f("a.CSV.GZ"), Some(FileFormat::GzipCsv));
        assert_eq!(f("a.json"), Some(FileFormat::JsonLines));
        assert_eq!(f("a.ndjson.gz"), Some(FileFormat::GzipJsonLines));
        assert_eq!(f("a.parquet"), Some(FileFormat::Parquet));
        assert_eq!(f("a.gz"), None);
        assert_eq!(f("README.md"), None);
    }
}
