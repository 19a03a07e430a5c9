//! Fuzz target: the hand-written parsers of single cells and small documents, which need no
//! polars scan: GCP repeated fields (JSON or Python's repr of a list of dicts), Azure numbers
//! (`1234.5`, `1,5`), dates (`MM/DD/YYYY`, ISO, `DD.MM.YYYY`), `AdditionalInfo` objects, VM
//! sizes from meter names, export manifests and the choice of runs from a listing, and AWS
//! billing region codes. Each may fail with an error; none may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = carbonledger_gcp::parse_repeated_text(text);
    let _ = carbonledger_gcp::python_repr_to_json(text);
    if let Ok(number) = carbonledger_azure::parse_number(text) {
        // A parsed number is a real amount, never NaN or infinite (issue 11).
        assert!(number.is_finite(), "{text:?} parsed as {number}");
    }
    let _ = carbonledger_azure::parse_date(text);
    let _ = carbonledger_azure::parse_object(text);
    let _ = carbonledger_azure::vm_size_of_meter(text);
    let _ = carbonledger_azure::parse_manifest(text, "fuzz/manifest.json");
    // The text as a listing: one path per line, with a manifest answered by the same text.
    let entries: Vec<carbonledger_azure::Entry> = text
        .lines()
        .enumerate()
        .map(|(i, path)| carbonledger_azure::Entry {
            path: path.to_owned(),
            modified: i as i64,
        })
        .collect();
    let _ = carbonledger_azure::choose(&entries, &mut |_| Ok(text.to_owned()));
    let _ = carbonledger_aws::billing_code_region(text);
});
