//! Where a factor set's numbers come from, summarised per data file: rows, data years,
//! licences and the references the `source` texts cite, read from the files' own provenance
//! columns (`source`, `year`, `licence`, which every row must fill). Reports list these
//! instead of typing sources into code.
//!
//! A reference is a cited repository file, `owner/repo@commit path` (`path` when given), as
//! the shipped sets write them; a source text citing none (a publication named in words)
//! is its own reference. Row-specific detail after the reference (a region's city, a CPU
//! model) is dropped, so a file of 500 rows from one repository lists one reference.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use crate::FactorError;

/// The provenance of one data file of a set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileProvenance {
    /// The file's name in the set's folder, e.g. `grid_location.csv`.
    pub file: String,
    /// Data rows (the header not counted).
    pub rows: usize,
    /// The earliest and latest `year` of the rows.
    pub years: Option<(i32, i32)>,
    /// The distinct `licence` values, sorted.
    pub licences: Vec<String>,
    /// How many distinct `source` texts the rows have.
    pub distinct_sources: usize,
    /// The references the sources cite, with how many rows cite each, most cited first.
    pub references: Vec<SourceCount>,
}

/// One reference and the rows citing it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceCount {
    pub reference: String,
    pub rows: usize,
}

/// The references one source text cites (itself when it cites no repository file).
fn references(source: &str) -> Vec<String> {
    static CITED: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let cited = CITED.get_or_init(|| {
        Regex::new(concat!(
            r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{7,40}",
            r"(?:\s+[A-Za-z0-9_./{},*-]+\.[A-Za-z]+)?"
        ))
        .expect("a valid pattern")
    });
    let mut found: Vec<String> = cited
        .find_iter(source)
        .map(|m| m.as_str().to_owned())
        .collect();
    found.dedup();
    if found.is_empty() {
        found.push(source.to_owned());
    }
    found
}

/// Summarises one CSV data file's provenance columns.
pub(crate) fn summarise(
    file: &str,
    origin: &str,
    text: &str,
) -> Result<FileProvenance, FactorError> {
    let invalid = |line: u64, message: String| FactorError::Invalid {
        file: format!("{origin}/{file}"),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| invalid(1, e.to_string()))?
        .clone();
    let at = |name: &str| header.iter().position(|h| h == name);
    let (source_at, year_at, licence_at) = (at("source"), at("year"), at("licence"));
    let mut sources: BTreeSet<String> = BTreeSet::new();
    let mut cited: BTreeMap<String, usize> = BTreeMap::new();
    let mut licences = BTreeSet::new();
    let mut years: Option<(i32, i32)> = None;
    let mut rows = 0;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| invalid(i as u64 + 2, e.to_string()))?;
        rows += 1;
        if let Some(source) = source_at.and_then(|k| record.get(k)) {
            sources.insert(source.to_owned());
            for reference in references(source) {
                *cited.entry(reference).or_default() += 1;
            }
        }
        if let Some(licence) = licence_at.and_then(|k| record.get(k)) {
            licences.insert(licence.to_owned());
        }
        if let Some(year) = year_at.and_then(|k| record.get(k)?.parse::<i32>().ok()) {
            years = Some(years.map_or((year, year), |(lo, hi)| (lo.min(year), hi.max(year))));
        }
    }
    let mut references: Vec<SourceCount> = cited
        .into_iter()
        .map(|(reference, rows)| SourceCount { reference, rows })
        .collect();
    references.sort_by(|a, b| {
        b.rows
            .cmp(&a.rows)
            .then_with(|| a.reference.cmp(&b.reference))
    });
    Ok(FileProvenance {
        file: file.to_owned(),
        rows,
        years,
        licences: licences.into_iter().collect(),
        distinct_sources: sources.len(),
        references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cited_files_are_counted_once_per_row() {
        let text = "a,source,year,licence\n\
                    1,o/r@abcdef1 data/a.csv (x); Taipei,2021,MIT\n\
                    2,o/r@abcdef1 data/a.csv (x); Tokyo,2024,MIT\n\
                    3,A report in words,2019,CC-BY-4.0\n";
        let p = summarise("t.csv", "here", text).expect("parses");
        assert_eq!(p.rows, 3);
        assert_eq!(p.years, Some((2019, 2024)));
        assert_eq!(p.licences, ["CC-BY-4.0", "MIT"]);
        assert_eq!(p.distinct_sources, 3);
        // Rows 1 and 2 cite one repository file (the city dropped); row 3 names no file.
        let got: Vec<(&str, usize)> = p
            .references
            .iter()
            .map(|s| (s.reference.as_str(), s.rows))
            .collect();
        assert_eq!(
            got,
            [("o/r@abcdef1 data/a.csv", 2), ("A report in words", 1)]
        );
    }

    #[test]
    fn an_embedded_set_lists_every_data_file() {
        let set = crate::FactorSet::embedded("default").expect("loads");
        let files: Vec<&str> = set.provenance.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files.len(), 9, "{files:?}");
        assert!(files.contains(&"grid_location.csv"));
        // Every row of every file names a source, so each row cites at least one reference.
        for p in &set.provenance {
            let cited: usize = p.references.iter().map(|s| s.rows).sum();
            assert!(cited >= p.rows && p.rows > 0, "{}", p.file);
            assert!(!p.licences.is_empty(), "{}", p.file);
        }
    }
}
