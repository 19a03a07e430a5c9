//! Fuzz target: whole billing files through the four file readers (AWS CUR, GCP export,
//! Azure cost details, FOCUS), each as CSV, as gzip (the input compressed as it is) and as
//! the input taken for gzip bytes. A reader may refuse the file; it must not panic, and when
//! it accepts it, the rows it delivers must be the rows it counted (nothing silently lost).

#![no_main]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use carbonledger_factors::FactorSet;
use carbonledger_usage::{SourceError, UsageSource};
use libfuzzer_sys::fuzz_target;

fn factors() -> Arc<FactorSet> {
    static SET: OnceLock<Arc<FactorSet>> = OnceLock::new();
    Arc::clone(SET.get_or_init(|| Arc::new(FactorSet::embedded("default").expect("factors"))))
}

fn read_all(source: Result<Box<dyn UsageSource>, SourceError>) {
    let Ok(mut source) = source else {
        return;
    };
    let mut rows = 0u64;
    if let Ok(totals) = source.read(&mut |batch| {
        rows += batch.height() as u64;
        Ok(())
    }) {
        assert_eq!(rows, totals.rows, "rows delivered differ from rows counted");
    }
}

fn every_reader(path: &Path) {
    read_all(
        carbonledger_aws::CurSource::open(path, factors(), Default::default())
            .map(|s| Box::new(s) as Box<dyn UsageSource>),
    );
    read_all(
        carbonledger_gcp::GcpExportSource::open(path, factors(), Default::default())
            .map(|s| Box::new(s) as Box<dyn UsageSource>),
    );
    read_all(
        carbonledger_azure::AzureExportSource::open(path, factors(), Default::default())
            .map(|s| Box::new(s) as Box<dyn UsageSource>),
    );
    read_all(
        carbonledger_focus::FocusSource::open(path, factors(), Default::default())
            .map(|s| Box::new(s) as Box<dyn UsageSource>),
    );
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("bill.csv");
    std::fs::write(&csv, data).expect("write");
    every_reader(&csv);
    let gz = dir.path().join("bill.csv.gz");
    let file = std::fs::File::create(&gz).expect("create");
    let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip");
    every_reader(&gz);
    let raw = dir.path().join("raw.csv.gz");
    std::fs::write(&raw, data).expect("write");
    every_reader(&raw);
});
