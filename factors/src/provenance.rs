//! Where a factor set's numbers come from, summarised per data file: rows, data years,
//! licences and the distinct `source` texts, read from the files' own provenance columns
//! (`source`, `year`, `licence`, which every row must fill). Reports list these instead of
//! typing sources into code.

use std::collections::{BTreeMap, BTreeSet};

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
    /// The distinct `source` texts with how many rows cite each, most cited first.
    pub sources: Vec<SourceCount>,
}

/// One distinct `source` text and the rows citing it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceCount {
    pub source: String,
    pub rows: usize,
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
    let mut sources: BTreeMap<String, usize> = BTreeMap::new();
    let mut licences = BTreeSet::new();
    let mut years: Option<(i32, i32)> = None;
    let mut rows = 0;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| invalid(i as u64 + 2, e.to_string()))?;
        rows += 1;
        if let Some(source) = source_at.and_then(|k| record.get(k)) {
            *sources.entry(source.to_owned()).or_default() += 1;
        }
        if let Some(licence) = licence_at.and_then(|k| record.get(k)) {
            licences.insert(licence.to_owned());
        }
        if let Some(year) = year_at.and_then(|k| record.get(k)?.parse::<i32>().ok()) {
            years = Some(years.map_or((year, year), |(lo, hi)| (lo.min(year), hi.max(year))));
        }
    }
    let mut sources: Vec<SourceCount> = sources
        .into_iter()
        .map(|(source, rows)| SourceCount { source, rows })
        .collect();
    sources.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.source.cmp(&b.source)));
    Ok(FileProvenance {
        file: file.to_owned(),
        rows,
        years,
        licences: licences.into_iter().collect(),
        sources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sources_years_and_licences() {
        let text = "a,source,year,licence\n1,X,2021,MIT\n2,Y,2024,MIT\n3,X,2019,CC-BY-4.0\n";
        let p = summarise("t.csv", "here", text).expect("parses");
        assert_eq!(p.rows, 3);
        assert_eq!(p.years, Some((2019, 2024)));
        assert_eq!(p.licences, ["CC-BY-4.0", "MIT"]);
        // X is cited twice, Y once: X first.
        let got: Vec<(&str, usize)> = p
            .sources
            .iter()
            .map(|s| (s.source.as_str(), s.rows))
            .collect();
        assert_eq!(got, [("X", 2), ("Y", 1)]);
    }

    #[test]
    fn an_embedded_set_lists_every_data_file() {
        let set = crate::FactorSet::embedded("default").expect("loads");
        let files: Vec<&str> = set.provenance.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files.len(), 9, "{files:?}");
        assert!(files.contains(&"grid_location.csv"));
        // Every row of every file names a source, so the counts add up to the rows.
        for p in &set.provenance {
            let cited: usize = p.sources.iter().map(|s| s.rows).sum();
            assert_eq!(cited, p.rows, "{}", p.file);
            assert!(!p.licences.is_empty(), "{}", p.file);
        }
    }
}
