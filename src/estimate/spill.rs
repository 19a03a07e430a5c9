//! A temporary Parquet file holding the unknown rows until the ratios are known, so that
//! memory does not grow with the input.

use std::fs::File;
use std::num::NonZeroUsize;

use polars::io::parquet::write::BatchedWriter;
use polars::prelude::*;

/// Rows written aside, read back in batches once.
#[derive(Default)]
pub struct Spill {
    file: Option<tempfile::NamedTempFile>,
    writer: Option<BatchedWriter<File>>,
}

impl Spill {
    pub fn new() -> PolarsResult<Self> {
        Ok(Spill::default())
    }

    pub fn write(&mut self, batch: &DataFrame) -> PolarsResult<()> {
        if self.writer.is_none() {
            let file = tempfile::Builder::new()
                .prefix("carbonledger-unknown-")
                .tempfile()?;
            let handle = file.reopen()?;
            let writer = ParquetWriter::new(handle)
                .with_compression(ParquetCompression::Lz4Raw)
                .batched(batch.schema())?;
            self.file = Some(file);
            self.writer = Some(writer);
        }
        match self.writer.as_mut() {
            Some(writer) => writer.write_batch(batch),
            None => Ok(()),
        }
    }

    /// The spilled rows in batches (none when nothing was spilled).
    pub fn read_back(self) -> PolarsResult<Box<dyn Iterator<Item = PolarsResult<DataFrame>>>> {
        let (Some(file), Some(writer)) = (self.file, self.writer) else {
            return Ok(Box::new(std::iter::empty()));
        };
        writer.finish()?;
        let path = file.path().to_string_lossy().into_owned();
        let batches = LazyFrame::scan_parquet(PlRefPath::new(&path), ScanArgsParquet::default())?
            .collect_batches(Engine::Streaming, true, NonZeroUsize::new(65_536), false)?;
        // Keep the temporary file alive until the batches are consumed.
        Ok(Box::new(batches.inspect(move |_| {
            let _ = file.path();
        })))
    }
}
