//! The GCP billing export view: the GCP connector's classification
//! (`connectors/gcp/src/classify.rs`, `processors.rs`, `region.rs`, `line.rs`, `cost.rs`) as SQL
//! over the export table's nested schema (`service.description`, `sku.description`,
//! `usage.amount`, `location.region`, `credits`, `system_labels`, …), followed by the same
//! estimator CTEs as the AWS view ([`super::aws::estimator_ctes`]).
//!
//! Units: `usage.amount` in `usage.unit` (`seconds`, `byte-seconds`, `bytes`, `requests`);
//! vCPU-hours (seconds / 3600, milli-vCPU-seconds / 3.6e6), memory GiB-hours (byte-seconds /
//! (2^30 × 3600)), storage TB-hours (byte-seconds / (10^12 × 3600)), network GB (bytes / 10^9);
//! energy in kWh, emissions in kg CO2e, cost (`cost` + credits) in the row's currency.
//!
//! Steps: `src` (the export's fields, trimmed; net cost; the `machine_spec` system label),
//! `flags` (per distinct service, SKU and unit, which of the connector's lists match, as
//! `\b…\b` regexes like CCF's `containsAny`), `g1` (class and per-class quantities in the
//! classifier's order), `g2` (machine-series processors for a machine type the set does not
//! list; the GPU model named by the SKU), `usage` (region and the usage schema's columns).
//!
//! Dialects: BigQuery and DuckDB (the repeated `credits` and `system_labels` are read with
//! `UNNEST` or list functions). Not carried: `tags` (the export's `labels`), `notes`.

use super::{Names, SqlOptions};

const GIB: &str = "1073741824e0";

/// The SELECT (with its CTEs) of the GCP view.
pub fn query(o: &SqlOptions, n: &Names) -> String {
    let d = o.dialect;
    let s = |x: &str| d.str(x);
    let f = |t: &str| n.factor_table(t);
    let text = |expr: &str| d.text(expr);
    let trimmed = |expr: &str| format!("TRIM({})", text(expr));
    let line = match &o.line_column {
        Some(c) => format!("CAST({} AS {})", d.ident(c), d.int_type()),
        None => format!("CAST(NULL AS {})", d.int_type()),
    };
    let src = format!(
        "src AS (
  SELECT
    {start} AS period_start,
    {end} AS period_end,
    'gcp' AS provider,
    {account} AS billing_account,
    {project} AS usage_account,
    {service} AS service,
    {sku_raw} AS usage_type,
    TRIM({sku_raw}) AS sku,
    {unit} AS usage_unit,
    {cost_type} AS cost_type,
    lower({loc}) AS loc,
    lower({loc_region}) AS loc_region,
    lower({loc_zone}) AS loc_zone,
    COALESCE({amount}, 0e0) AS usage_amount,
    COALESCE({cost}, 0e0) + {credits} AS cost,
    {currency} AS currency,
    TRIM({spec}) AS machine_type,
    {line} AS source_line
  FROM {table}
)",
        start = d.timestamp("usage_start_time"),
        end = d.timestamp("usage_end_time"),
        account = trimmed("billing_account_id"),
        project = trimmed("project.id"),
        service = trimmed("service.description"),
        sku_raw = text("sku.description"),
        unit = trimmed("usage.unit"),
        cost_type = trimmed("cost_type"),
        loc = trimmed("location.location"),
        loc_region = trimmed("location.region"),
        loc_zone = trimmed("location.zone"),
        amount = d.try_double("usage.amount"),
        cost = d.try_double("cost"),
        credits = d.repeated_sum("credits", "amount"),
        currency = trimmed("currency"),
        spec = d.repeated_lookup("system_labels", "compute.googleapis.com/machine_spec"),
        table = d.table(&o.table),
    );
    let s0 = String::from(
        "s0 AS (
  SELECT src.*,
    EXTRACT(YEAR FROM period_start) AS usage_year,
    EXTRACT(YEAR FROM period_start) * 100 + EXTRACT(MONTH FROM period_start) AS usage_month,
    CASE WHEN cost_type = '' THEN 'regular' ELSE cost_type END AS lit
  FROM src
)",
    );
    let word =
        |subject: &str| d.regex_match(subject, &format!("{} || l.entry || {}", s(r"\b"), s(r"\b")));
    let flag = |name: &str, list: &str, subject: &str| {
        format!(
            "    MAX(CASE WHEN l.list = '{list}' AND {} THEN 1 ELSE 0 END) AS {name}",
            word(subject)
        )
    };
    let flags = format!(
        "keys AS (SELECT DISTINCT service, sku, usage_unit FROM s0),
flags AS (
  SELECT k.service AS k_service, k.sku AS k_sku, k.usage_unit AS k_unit,
    MIN(CASE WHEN l.list = 'unsupported_usage_types' AND {unsupported} THEN l.seq END)
      AS unsupported_seq,
{unknown},
{unknown_service},
{compute},
{memory},
{networking},
{composer}
  FROM keys k CROSS JOIN {cl} l
  WHERE l.provider = 'gcp'
  GROUP BY k.service, k.sku, k.usage_unit
)",
        unsupported = word("k.sku"),
        unknown = flag("f_unknown", "unknown_usage_types", "k.sku"),
        unknown_service = flag("f_unknown_service", "unknown_service_types", "k.service"),
        compute = flag("f_compute", "compute_usage_types", "k.sku"),
        memory = flag("f_memory", "memory_usage_types", "k.sku"),
        networking = flag("f_networking", "networking_usage_types", "k.sku"),
        composer = flag("f_composer", "composer_usage_types", "k.sku"),
        cl = f("classification_lists"),
    );
    let mcpu = d.contains("sku", &s(carbonledger_gcp::POD_MCPU_REQUESTS));
    let pod_memory = d.contains("sku", &s(carbonledger_gcp::POD_MEMORY_REQUESTS));
    let gke = d.contains("sku", &s(carbonledger_gcp::GKE_CLUSTERS));
    let g1 = format!(
        "g1 AS (
  SELECT s0.*, fl.unsupported_seq, fl.f_composer, fl.f_compute,
    CASE
      WHEN cost_type <> '' AND lower(cost_type) <> 'regular' THEN 'cost_type'
      WHEN fl.unsupported_seq IS NOT NULL THEN 'unsupported'
      WHEN {commitment} THEN 'commitment'
      WHEN {mcpu} AND usage_unit = 'seconds' THEN 'pod_cpu'
      WHEN {pod_memory} AND usage_unit = 'byte-seconds' THEN 'pod_memory'
      WHEN fl.f_unknown = 1 OR fl.f_unknown_service = 1 OR usage_unit = 'requests'
        OR sku = '' THEN 'unknown'
      WHEN usage_unit = 'seconds' AND fl.f_compute = 1 AND {gpu} THEN 'gpu'
      WHEN usage_unit = 'seconds' AND fl.f_compute = 1 THEN 'compute'
      WHEN usage_unit = 'byte-seconds' AND fl.f_memory = 1 AND fl.f_compute = 0 THEN 'memory'
      WHEN usage_unit = 'byte-seconds' AND {ssd} THEN 'ssd'
      WHEN usage_unit = 'byte-seconds' THEN 'hdd'
      WHEN usage_unit = 'bytes' AND fl.f_networking = 1 THEN 'network'
      ELSE 'unknown'
    END AS rule,
    CASE WHEN {gke} OR fl.f_composer = 1 THEN {e2} ELSE machine_type END AS row_machine
  FROM s0 JOIN flags fl ON fl.k_service = s0.service AND fl.k_sku = s0.sku
    AND fl.k_unit = s0.usage_unit
)",
        commitment = d.starts_with("sku", "'Commitment'"),
        gpu = d.contains("sku", "'GPU'"),
        ssd = d.contains("sku", "'SSD'"),
        e2 = s(carbonledger_gcp::GKE_COMPOSER_MACHINE_TYPE),
    );
    // The machine series (processors.rs, default method): the type up to its first `-`
    // (`custom` is N1), or for a row without a type the series the SKU starts with.
    let lower_machine = "lower(g1.row_machine)";
    let series = format!(
        "CASE WHEN {lower_machine} = '' THEN
        COALESCE(sp.prefix_series, NULLIF(lower({sku_series}), ''))
      WHEN {first} = 'custom' THEN 'n1'
      ELSE {first} END",
        sku_series = d.regex_group("g1.sku", carbonledger_gcp::SKU_SERIES_PATTERN),
        first = d.regex_group(lower_machine, "^([^-]*)"),
    );
    // The GPU model a SKU names (classify.rs `named_gpu`): the longest listed model (without
    // `Tesla `) the SKU starts with, followed by nothing or a space; else the text before
    // ` GPU`.
    let plain = |x: &str| format!("replace({x}, 'Tesla ', '')");
    let gpu_names = format!(
        "gpu_keys AS (SELECT DISTINCT sku FROM g1 WHERE rule = 'gpu'),
gpu_hits AS (
  SELECT k.sku, g.gpu_model, length({pm}) AS len
  FROM gpu_keys k CROSS JOIN {gw} g
  WHERE g.provider = 'gcp' AND {starts}
    AND (length({ps}) = length({pm}) OR substr({ps}, length({pm}) + 1, 1) = ' ')
),
gpu_best AS (
  SELECT h.sku AS gpu_sku, MAX(h.gpu_model) AS gpu_model
  FROM gpu_hits h
  JOIN (SELECT sku, MAX(len) AS len FROM gpu_hits GROUP BY sku) m
    ON m.sku = h.sku AND m.len = h.len
  GROUP BY h.sku
)",
        pm = plain("g.gpu_model"),
        ps = plain("k.sku"),
        starts = d.starts_with(&plain("k.sku"), &plain("g.gpu_model")),
        gw = f("gpu_watts"),
    );
    let sku_prefix = format!(
        "prefixes AS (
  SELECT substr(entry, 1, strpos(entry, '=') - 1) AS prefix,
    substr(entry, strpos(entry, '=') + 1) AS series
  FROM {cl} WHERE provider = 'gcp' AND list = 'sku_series_prefixes'
),
sku_prefix AS (
  SELECT k.sku AS prefix_sku, MAX(CASE WHEN {sp_match} THEN p.series END) AS prefix_series
  FROM (SELECT DISTINCT sku FROM g1) k CROSS JOIN prefixes p
  GROUP BY k.sku
)",
        cl = f("classification_lists"),
        sp_match = d.starts_with("k.sku", "p.prefix"),
    );
    let g2 = format!(
        "g2 AS (
  SELECT g1.*,
    (ins.instance_type IS NOT NULL) AS listed,
    {series} AS series
  FROM g1
  LEFT JOIN {inst} ins ON ins.provider = 'gcp' AND ins.instance_type = g1.row_machine
  LEFT JOIN sku_prefix sp ON sp.prefix_sku = g1.sku
)",
        inst = f("instances"),
    );
    let compute = format!(
        "usage_amount * CASE WHEN {gke} THEN gcoef.gke WHEN f_composer = 1 \
         THEN gcoef.composer ELSE 1e0 END / (3600e0)"
    );
    let per = |num: &str, den: &str| format!("usage_amount * {num} / ({den})");
    let zone = carbonledger_gcp::ZONE_PATTERN;
    let region_re = s(carbonledger_gcp::REGION_PATTERN);
    let usage = format!(
        "usage AS (
  SELECT g2.*,
    CASE WHEN rule IN ('cost_type', 'unsupported', 'commitment') THEN 'excluded'
      WHEN rule IN ('pod_cpu', 'compute') THEN 'compute'
      WHEN rule = 'pod_memory' THEN 'memory'
      WHEN rule = 'ssd' THEN 'storage_ssd'
      WHEN rule = 'hdd' THEN 'storage_hdd'
      ELSE rule END AS usage_class,
    CASE rule
      WHEN 'cost_type' THEN 'cost type ' || cost_type || ': ' || CASE lower(cost_type)
        WHEN 'tax' THEN 'a tax charge' WHEN 'adjustment' THEN 'a billing correction'
        WHEN 'rounding_error' THEN {rounding}
        ELSE 'not a regular usage charge' END || ', not physical usage'
      WHEN 'unsupported' THEN 'SKU matches `' || us.entry
        || {unsupported_tail}
      WHEN 'commitment' THEN {commitment}
    END AS exclusion_reason,
    CASE WHEN rule = 'compute' AND row_machine <> '' THEN row_machine
      WHEN rule = 'gpu' AND machine_type <> '' THEN machine_type END AS instance_type,
    CASE WHEN rule = 'compute' AND NOT listed THEN sproc.cpu_architecture END
      AS cpu_architecture,
    CASE WHEN rule = 'gpu' THEN COALESCE(gb.gpu_model,
      CASE WHEN strpos(sku, ' GPU') > 0
        THEN NULLIF(TRIM(substr(sku, 1, strpos(sku, ' GPU') - 1)), '') END) END AS gpu_model,
    CASE rule
      WHEN 'pod_cpu' THEN {pod_cpu}
      WHEN 'compute' THEN {compute}
      ELSE 0e0 END AS vcpu_hours,
    CASE WHEN rule = 'gpu' THEN {gpu} ELSE 0e0 END AS gpu_hours,
    CASE WHEN rule IN ('pod_memory', 'memory') THEN {memory} ELSE 0e0 END AS memory_gb_hours,
    CASE WHEN rule IN ('ssd', 'hdd') THEN {storage} ELSE 0e0 END AS storage_tb_hours,
    CASE WHEN rule = 'network' THEN {network} ELSE 0e0 END AS network_gb,
    {region} AS region,
    {note} AS region_note,
    0 AS f_byte_hours
  FROM g2
  CROSS JOIN gcoef
  LEFT JOIN {cl} us ON us.provider = 'gcp' AND us.list = 'unsupported_usage_types'
    AND us.seq = g2.unsupported_seq
  LEFT JOIN {series_tbl} sproc ON sproc.series = g2.series
  LEFT JOIN gpu_best gb ON gb.gpu_sku = g2.sku
)",
        rounding = s("invoice rounding (CCF's query drops it)"),
        unsupported_tail = s("` in CCF's unsupported list: a charge, not physical usage"),
        commitment = s(
            "committed-use fee: the usage it pays for is billed on its own rows (CCF \
             estimates it by ratio, counting that usage twice)"
        ),
        pod_cpu = per("1e0", "1000e0 * 3600e0"),
        gpu = per("1e0", "3600e0"),
        memory = per("1e0", &format!("{GIB} * 3600e0")),
        storage = per("1e0", "1000000000000e0 * 3600e0"),
        network = per("1e0", "1000000000e0"),
        region = region_case(o, false, zone, &region_re),
        note = region_case(o, true, zone, &region_re),
        cl = f("classification_lists"),
        series_tbl = f("gcp_series_processors"),
    );
    let gcoef = format!(
        "gcoef AS (
  SELECT
    MAX(CASE WHEN name = 'gcp_vcpus_per_gke_cluster' THEN value END) AS gke,
    MAX(CASE WHEN name = 'gcp_vcpus_per_cloud_composer_environment' THEN value END)
      AS composer
  FROM {}
)",
        f("coefficients")
    );
    let factors = super::aws::estimator_ctes(o, n, "usage", "'gcp'");
    let ctes = [
        src, s0, flags, g1, gpu_names, sku_prefix, g2, gcoef, usage, factors,
    ];
    format!("WITH\n{}", ctes.join(",\n"))
}

/// The region (or, with `note`, how it was found) of `region.rs` `resolve`.
fn region_case(o: &SqlOptions, note: bool, zone: &str, region_re: &str) -> String {
    let d = o.dialect;
    let s = |x: &str| d.str(x);
    let pick = |region: String, why: String| if note { why } else { region };
    let zone_of = |x: &str| d.regex_group(x, zone);
    format!(
        "CASE
      WHEN loc_region <> '' THEN {a}
      WHEN {zone_ok} THEN {b}
      WHEN loc = '' THEN {c}
      WHEN loc = 'global' THEN {g}
      WHEN {loc_zone_ok} THEN {e}
      WHEN {loc_region_ok} THEN {f}
      ELSE {m}
    END",
        a = pick("loc_region".into(), "CAST(NULL AS VARCHAR)".into()),
        zone_ok = d.regex_match("loc_zone", &s(zone)),
        b = pick(zone_of("loc_zone"), s("from location.zone")),
        c = pick("NULL".into(), s("no location in the export row")),
        g = pick("NULL".into(), s("global usage (location `global`)")),
        loc_zone_ok = d.regex_match("loc", &s(zone)),
        e = pick(zone_of("loc"), s("from location.location (a zone)")),
        loc_region_ok = d.regex_match("loc", region_re),
        f = pick("loc".into(), s("from location.location")),
        m = pick(
            "loc".into(),
            "'multi-region location `' || loc || '`'".to_owned()
        ),
    )
    .replace("VARCHAR", d.string_type())
}
