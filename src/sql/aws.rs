//! The AWS CUR view: the AWS connector's classification (`connectors/aws/src/classify.rs`,
//! `region.rs`, `line.rs`) and the estimator (`src/estimate/`) as one SQL query over a legacy
//! CUR table, joined to the tables `carbonledger factors export` writes.
//!
//! Number literals are written `1e0`, `3600e0`: a DOUBLE in every dialect (Trino and Spark
//! read `1.0` as a DECIMAL, whose division rounds).
//!
//! Units as in the ledger: vCPU-hours, GPU-hours, memory GB-hours, storage TB-hours, network
//! GB; energy in kWh; emissions in kg CO2e; cost in the row's currency.
//!
//! The query's steps (CTEs), each the twin of one Rust step:
//! * `src`: the CUR columns as trimmed text, numbers and UTC timestamps;
//! * `s0`, `s1`: CCF's `xl` → `xlarge` fix, the pricing unit CCF uses (`Fargate-GB-Hours` →
//!   `GB-Hours`, Redshift seconds → `Hrs`), the parsed instance type and MSK key;
//! * `flags`: per distinct (line item type, operation, service, usage type, unit), which of the
//!   connector's lists match (`classification_lists`, matched by equality, substring, suffix or
//!   `\b…\b` regex as the Rust list says; burstable types from `burstable`);
//! * `usage`: class, exclusion reason, region and note, instance type and quantities: the usage
//!   schema's columns;
//! * `repl`, `pue_y`, `grid_l`, `grid_m`: the replication rule, PUE and grid factors, with the
//!   factor set's year rule (the usage year, else the latest earlier year, else the earliest);
//! * `est`: the direct estimate of known rows;
//! * `known`, `by_u`, `by_p`: the known rows' sums per provider, month (UTC) and currency, by
//!   service and unit, by unit, and overall; unknown rows take the first ratio that exists
//!   (`estimate/ratio.rs`: with `--method default` by service and unit, unit, provider; with
//!   `--method ccf` by unit only, per unit of cost for AWS), and rows with none are excluded
//!   with the reason the Rust path gives.
//!
//! `--method ccf` (the `ccf_quirks` of the AWS classifier and the CCF branches of the
//! estimator): vCPUs looked up with the usage type as billed, Redshift table vCPUs / 3600 and
//! vCPU-hours per billed unit, compute lines without a vCPU count kept as compute at 0 kWh
//! (no embodied, not in the ratios), byte-hour usage types' GB-months / 2^40 as TB-hours,
//! regions the bill did not state ignored for factors, `ccf_kwh` = energy + embodied / grid.
//!
//! Not carried (the Rust path has them): `tags` (null: the CUR's `resourceTags/*` columns are
//! not folded into JSON), `notes` (null), `source_line` unless `--line-column` names a column;
//! `--cost amortized` (its per-line-type rules are not written in SQL). CUR 2.0's `product` map
//! is not read: the view needs the legacy or Athena column names.

use super::{Names, SqlOptions};

/// The CUR cost measures the view can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AwsCost {
    Unblended,
    NetUnblended,
    Blended,
}

impl AwsCost {
    fn column(self) -> &'static str {
        match self {
            AwsCost::Unblended => "lineItem/UnblendedCost",
            AwsCost::NetUnblended => "lineItem/NetUnblendedCost",
            AwsCost::Blended => "lineItem/BlendedCost",
        }
    }
}

/// Optional CUR columns: read as empty text when the table does not have them.
pub const OPTIONAL_COLUMNS: [&str; 5] = [
    "product/region",
    "product/regionCode",
    "product/instanceType",
    "product/vcpu",
    "lineItem/Operation",
];

/// The SELECT (with its CTEs) of the AWS view.
pub fn query(o: &SqlOptions, n: &Names) -> String {
    let d = o.dialect;
    let s = |x: &str| d.str(x);
    let f = |t: &str| n.factor_table(t);
    let col = |legacy: &str| -> String {
        if o.missing_columns.iter().any(|m| m == legacy) {
            "NULL".to_owned()
        } else {
            d.ident(&n.cur_column(legacy))
        }
    };
    let text = |legacy: &str| d.text(&col(legacy));
    let trimmed = |legacy: &str| format!("TRIM({})", text(legacy));
    let num = |legacy: &str| format!("COALESCE({}, 0)", d.try_double(&col(legacy)));
    let ccf = o.method == crate::estimate::Method::Ccf;
    let line = match &o.line_column {
        Some(c) => format!("CAST({} AS {})", d.ident(c), d.int_type()),
        None => format!("CAST(NULL AS {})", d.int_type()),
    };

    // `src`: the CUR's fields as the connector reads them.
    let src = format!(
        "src AS (
  SELECT
    {start} AS period_start,
    {end} AS period_end,
    'aws' AS provider,
    {payer} AS billing_account,
    {account} AS usage_account,
    {lit} AS lit,
    {op} AS op,
    {svc} AS service,
    {ut_raw} AS usage_type,
    TRIM({ut_raw}) AS raw_ut,
    {unit_raw} AS usage_unit,
    {r1} AS r1,
    {r3} AS r3,
    {pvcpu} AS product_vcpu_text,
    {pit} AS product_instance_type,
    {amount} AS usage_amount,
    {cost} AS cost,
    {currency} AS currency,
    {line} AS source_line
  FROM {table}
)",
        start = d.timestamp(&col("lineItem/UsageStartDate")),
        end = d.timestamp(&col("lineItem/UsageEndDate")),
        payer = text("bill/PayerAccountId"),
        account = text("lineItem/UsageAccountId"),
        lit = trimmed("lineItem/LineItemType"),
        op = trimmed("lineItem/Operation"),
        svc = trimmed("lineItem/ProductCode"),
        ut_raw = text("lineItem/UsageType"),
        unit_raw = text("pricing/unit"),
        r1 = trimmed("product/region"),
        r3 = trimmed("product/regionCode"),
        pvcpu = trimmed("product/vcpu"),
        pit = trimmed("product/instanceType"),
        amount = num("lineItem/UsageAmount"),
        cost = num(o.aws_cost.column()),
        currency = text("lineItem/CurrencyCode"),
        table = d.table(&o.table),
    );

    let ut_xl = format!(
        "CASE WHEN {} THEN raw_ut || 'arge' ELSE raw_ut END",
        d.ends_with("raw_ut", "'xl'")
    );
    let s0 = format!(
        "s0 AS (
  SELECT src.*, {ut_xl} AS ut,
    (service = 'AmazonRedshift' AND usage_unit = 'seconds') AS redshift_seconds,
    EXTRACT(YEAR FROM period_start) AS usage_year,
    EXTRACT(YEAR FROM period_start) * 100 + EXTRACT(MONTH FROM period_start) AS usage_month,
    {days} AS days_in_month
  FROM src
)",
        days = d.days_in_month("period_start"),
    );
    let prefix = carbonledger_aws::INSTANCE_PREFIX_PATTERN;
    let s1 = format!(
        "s1 AS (
  SELECT s0.*,
    CASE WHEN {fargate} THEN 'GB-Hours' WHEN redshift_seconds THEN 'Hrs'
      ELSE TRIM(usage_unit) END AS unit,
    {parsed} AS parsed_type,
    CASE WHEN {kafka} THEN 'Kafka' || {msk} END AS msk_key,
    {parsed_raw} AS parsed_raw,
    CASE WHEN {kafka_raw} THEN 'Kafka' || {msk_raw} END AS msk_raw,
    CASE WHEN redshift_seconds THEN 1e0 / 3600e0 ELSE 1e0 END AS hours_per_amount
  FROM s0
)",
        fargate = d.contains("ut", "'Fargate-GB-Hours'"),
        parsed = d.regex_strip(&d.regex_group("ut", "([^:]*)$"), prefix),
        kafka = d.contains("ut", "'Kafka'"),
        msk = d.regex_group("ut", "^.*Kafka(.*)$"),
        parsed_raw = d.regex_strip(&d.regex_group("raw_ut", "([^:]*)$"), prefix),
        kafka_raw = d.contains("raw_ut", "'Kafka'"),
        msk_raw = d.regex_group("raw_ut", "^.*Kafka(.*)$"),
    );

    // `flags`: which lists match each distinct key.
    let word =
        |subject: &str| d.regex_match(subject, &format!("{} || l.entry || {}", s(r"\b"), s(r"\b")));
    let flag = |name: &str, list: &str, test: String| {
        format!("    MAX(CASE WHEN l.list = '{list}' AND {test} THEN 1 ELSE 0 END) AS {name}")
    };
    let flags_cols = [
        flag("f_line_item", "line_item_types", "k.lit = l.entry".into()),
        flag("f_split", "split_cost_operations", "k.op = l.entry".into()),
        flag(
            "f_unknown",
            "unknown_usage_types",
            d.contains("k.ut", "l.entry"),
        ),
        flag("f_compute_unit", "compute_units", "k.unit = l.entry".into()),
        flag("f_storage_unit", "storage_units", "k.unit = l.entry".into()),
        flag("f_lambda_unit", "lambda_units", "k.unit = l.entry".into()),
        flag("f_network_unit", "network_units", "k.unit = l.entry".into()),
        flag(
            "f_ssd_service",
            "ssd_services",
            d.ends_with("k.service", "l.entry"),
        ),
        flag(
            "f_ssd_type",
            "ssd_usage_types",
            d.ends_with("k.ut", "l.entry"),
        ),
        flag(
            "f_hdd_type",
            "hdd_usage_types",
            d.ends_with("k.ut", "l.entry"),
        ),
        flag(
            "f_networking",
            "networking_usage_types",
            d.ends_with("k.ut", "l.entry"),
        ),
        flag("f_vcpu_hour_type", "vcpu_hour_usage_types", word("k.ut")),
        flag("f_burstable", "burstable", word("k.ut")),
        flag("f_vcpu_hour_raw", "vcpu_hour_usage_types", word("k.raw_ut")),
        flag("f_burstable_raw", "burstable", word("k.raw_ut")),
        flag(
            "f_byte_hours",
            "byte_hours_usage_types",
            d.ends_with("k.usage_type", "l.entry"),
        ),
        format!(
            "    MIN(CASE WHEN l.list = 'unsupported_usage_types' AND {} THEN l.seq END) \
             AS unsupported_seq",
            d.contains("k.ut", "l.entry")
        ),
    ]
    .join(",\n");
    let flags = format!(
        "lists AS (
  SELECT list, seq, entry FROM {cl} WHERE provider = 'aws'
  UNION ALL
  SELECT 'burstable' AS list, 0 AS seq, instance_type AS entry FROM {burst}
  WHERE provider = 'aws'
),
keys AS (SELECT DISTINCT lit, op, service, ut, unit, raw_ut, usage_type FROM s1),
flags AS (
  SELECT k.lit AS k_lit, k.op AS k_op, k.service AS k_service, k.ut AS k_ut, k.unit AS k_unit,
    k.raw_ut AS k_raw_ut, k.usage_type AS k_usage_type,
{flags_cols}
  FROM keys k CROSS JOIN lists l
  GROUP BY k.lit, k.op, k.service, k.ut, k.unit, k.raw_ut, k.usage_type
)",
        cl = f("classification_lists"),
        burst = f("burstable"),
    );

    let coef = format!(
        "coef AS (
  SELECT
{}
  FROM {}
)",
        [
            "memory_kwh_per_gb_hour",
            "ssd_wh_per_tb_hour",
            "hdd_wh_per_tb_hour",
            "network_kwh_per_gb",
            "cpu_utilization_percent",
            "aws_glue_vcpus_per_dpu",
            "aws_aurora_serverless_vcpus_per_acu",
        ]
        .iter()
        .map(|c| format!("    MAX(CASE WHEN name = '{c}' THEN value END) AS {c}"))
        .collect::<Vec<_>>()
        .join(",\n"),
        f("coefficients")
    );

    // `c1`: the row with its flags, table instance and vCPUs (classify.rs `vcpus`).
    let table_instance = |field: &str| {
        format!("CASE WHEN im.instance_type IS NOT NULL THEN im.{field} ELSE ip.{field} END")
    };
    let c1 = format!(
        "c1 AS (
  SELECT s1.*, fl.f_line_item, fl.f_split, fl.unsupported_seq, fl.f_unknown,
    fl.f_compute_unit, fl.f_storage_unit, fl.f_lambda_unit, fl.f_network_unit,
    fl.f_ssd_service, fl.f_ssd_type, fl.f_hdd_type, fl.f_networking,
    (im.instance_type IS NOT NULL OR ip.instance_type IS NOT NULL) AS has_table_instance,
    {t_vcpus} AS table_vcpus,
    {t_memory} AS table_memory_gb,
    {t_gpus} AS table_gpu_count,
    {t_gpu_model} AS table_gpu_model,
    CASE WHEN {pvcpu} > 0 THEN {pvcpu} END AS product_vcpu,
    b.baseline_percent,
    fl.f_vcpu_hour_type, fl.f_burstable,
    CASE WHEN imr.instance_type IS NOT NULL THEN imr.vcpus ELSE ipr.vcpus END AS table_vcpus_raw,
    br.baseline_percent AS baseline_raw,
    fl.f_vcpu_hour_raw, fl.f_burstable_raw, fl.f_byte_hours
  FROM s1
  JOIN flags fl ON fl.k_lit = s1.lit AND fl.k_op = s1.op AND fl.k_service = s1.service
    AND fl.k_ut = s1.ut AND fl.k_unit = s1.unit AND fl.k_raw_ut = s1.raw_ut
    AND fl.k_usage_type = s1.usage_type
  LEFT JOIN {inst} im ON im.provider = 'aws' AND im.instance_type = s1.msk_key
  LEFT JOIN {inst} ip ON ip.provider = 'aws' AND ip.instance_type = s1.parsed_type
  LEFT JOIN {burst} b ON b.provider = 'aws' AND b.instance_type = s1.parsed_type
  LEFT JOIN {inst} imr ON imr.provider = 'aws' AND imr.instance_type = s1.msk_raw
  LEFT JOIN {inst} ipr ON ipr.provider = 'aws' AND ipr.instance_type = s1.parsed_raw
  LEFT JOIN {burst} br ON br.provider = 'aws' AND br.instance_type = s1.parsed_raw
)",
        t_vcpus = table_instance("vcpus"),
        t_memory = table_instance("memory_gb"),
        t_gpus = table_instance("gpu_count"),
        t_gpu_model = table_instance("gpu_model"),
        pvcpu = d.try_double("s1.product_vcpu_text"),
        inst = f("instances"),
        burst = f("burstable"),
    );
    // With `--method ccf` the vCPUs are looked up with the usage type as billed (before the
    // `xl` fix) and Redshift's table vCPUs are divided by 3600 (classify.rs `vcpus`).
    let (vut, vtable, vbase, vhour, vburst) = if ccf {
        (
            "raw_ut",
            "table_vcpus_raw",
            "baseline_raw",
            "f_vcpu_hour_raw",
            "f_burstable_raw",
        )
    } else {
        (
            "ut",
            "table_vcpus",
            "baseline_percent",
            "f_vcpu_hour_type",
            "f_burstable",
        )
    };
    let table_v = if ccf {
        format!(
            "CASE WHEN service = 'AmazonRedshift' AND NOT {} THEN {vtable} / 3600e0 \
             ELSE {vtable} END",
            d.contains("raw_ut", "'Kafka'")
        )
    } else {
        vtable.to_owned()
    };
    let c2 = format!(
        "c2 AS (
  SELECT c1.*,
    CASE
      WHEN service = 'AWSGlue' THEN coef.aws_glue_vcpus_per_dpu
      WHEN service = 'AmazonSimpleDB' THEN 1e0
      WHEN {aurora} THEN coef.aws_aurora_serverless_vcpus_per_acu
      WHEN {vhour} = 1 THEN 1e0
      WHEN {vburst} = 1 THEN COALESCE({vtable}, product_vcpu) * {vbase}
        / coef.cpu_utilization_percent
      ELSE COALESCE(product_vcpu, {table_v})
    END AS vcpus_per_amount,
    CASE WHEN {shape} THEN parsed_type
      ELSE NULLIF({stripped}, '') END AS shown_type
  FROM c1 CROSS JOIN coef
)",
        aurora = d.contains(vut, "'Aurora:ServerlessUsage'"),
        shape = d.regex_match("parsed_type", &s(carbonledger_aws::INSTANCE_SHAPE_PATTERN)),
        stripped = d.regex_strip("product_instance_type", prefix),
    );

    // `c3`: the class (classify.rs `compute`, in its order).
    let c3 = format!(
        "c3 AS (
  SELECT c2.*,
    CASE
      WHEN f_line_item = 0 THEN 'excluded'
      WHEN f_split = 1 THEN 'excluded'
      WHEN unsupported_seq IS NOT NULL THEN 'excluded'
      WHEN f_unknown = 1
        OR f_compute_unit + f_storage_unit + f_lambda_unit + f_network_unit = 0 THEN 'unknown'
      WHEN f_compute_unit = 1 THEN
        CASE WHEN vcpus_per_amount IS NULL THEN {no_vcpus} ELSE 'compute' END
      WHEN f_storage_unit = 1 THEN
        CASE WHEN f_ssd_type = 1 OR (f_ssd_service = 1 AND NOT {backup}) THEN 'storage_ssd'
          WHEN f_hdd_type = 1 THEN 'storage_hdd' ELSE 'excluded' END
      WHEN f_lambda_unit = 1 THEN 'compute'
      WHEN service = 'AmazonCloudFront' THEN 'excluded'
      WHEN f_networking = 1 THEN 'network'
      ELSE 'excluded'
    END AS usage_class
  FROM c2
)",
        backup = d.contains("ut", "'Backup'"),
        no_vcpus = if ccf { "'compute'" } else { "'unknown'" },
    );

    // `usage`: the usage schema's columns (line.rs `push`, region.rs `resolve`).
    let global_service = format!(
        "(service IN ('AmazonCloudFront', 'AmazonRoute53', 'AWSIAM') OR {})",
        d.contains("service", "'Support'")
    );
    let region_re = s(carbonledger_aws::REGION_CODE_PATTERN);
    let first = d.regex_group("u0.raw_ut", "^([^-]*)");
    let name_prefix = carbonledger_aws::REGION_NAME_PREFIX_PATTERN;
    let code_shape = s(carbonledger_aws::BILLING_CODE_SHAPE_PATTERN);
    let region_case = |want_note: bool| {
        let pick = |region: &str, note: String| if want_note { note } else { region.to_owned() };
        format!(
            "CASE
      WHEN {global_service} THEN {g}
      WHEN lower(r1) = 'global' THEN {g}
      WHEN {r1_ok} THEN {r1}
      WHEN lower(r3) = 'global' THEN {g}
      WHEN {r3_ok} THEN {r3}
      WHEN u0.raw_ut = '' THEN {empty}
      WHEN rc.region IS NOT NULL THEN {code}
      WHEN {name_ok} THEN {name}
      WHEN {shape_ok} THEN {unknown_code}
      ELSE {default}
    END",
            g = pick("NULL", s(carbonledger_aws::GLOBAL_NOTE)),
            r1_ok = d.regex_match("r1", &region_re),
            r1 = pick("r1", "NULL".into()),
            r3_ok = d.regex_match("r3", &region_re),
            r3 = pick("r3", "NULL".into()),
            empty = pick(
                "NULL",
                s("no region: the line has neither a product region nor a usage type")
            ),
            code = pick("rc.region", format!("'from usage-type prefix ' || {first}")),
            name_ok = d.regex_match("u0.raw_ut", &s(name_prefix)),
            name = pick(
                &d.regex_group("u0.raw_ut", name_prefix),
                format!(
                    "'from usage-type prefix ' || {}",
                    d.regex_group("u0.raw_ut", name_prefix)
                )
            ),
            shape_ok = d.regex_match(&first, &code_shape),
            unknown_code = pick(
                "NULL",
                format!("'unknown region billing code ' || {first} || ' in the usage type'")
            ),
            default = pick("'us-east-1'", s(carbonledger_aws::NO_PREFIX_NOTE)),
        )
    };
    let usage = format!(
        "usage AS (
  SELECT u0.*,
    {region} AS region,
    {note} AS region_note,
    CASE WHEN usage_class = 'excluded' THEN
      CASE
        WHEN f_line_item = 0 THEN 'line item type ' || CASE WHEN lit = '' THEN '(empty)'
          ELSE lit END || ' carries no physical usage'
        WHEN f_split = 1 THEN 'split cost allocation line (operation ' || op
          || {split_tail}
        WHEN unsupported_seq IS NOT NULL THEN 'usage type matches `' || us.entry
          || {unsupported_mid} || CASE us.entry
            WHEN 'Dollar' THEN 'a dollar amount, not physical usage'
            WHEN 'HostBoxUsage' THEN 'CCF does not estimate instance usage on Dedicated Hosts'
            ELSE {reexpresses} END
        WHEN f_storage_unit = 1 THEN 'storage usage type with unknown media (CCF skips it)'
        WHEN service = 'AmazonCloudFront' THEN {cloudfront}
        ELSE {not_inter_dc}
      END
    END AS exclusion_reason,
    CASE WHEN f_compute_unit = 1 AND usage_class IN ('compute', 'unknown')
      AND f_unknown = 0 AND unsupported_seq IS NULL AND f_line_item = 1 AND f_split = 0
      THEN shown_type END AS instance_type,
    CASE WHEN usage_class = 'compute' AND f_lambda_unit = 1 AND {arm} THEN 'AWS Graviton2'
      END AS cpu_architecture,
    CASE WHEN usage_class = 'compute' AND f_compute_unit = 1 AND table_gpu_count > 0
      AND vcpus_per_amount IS NOT NULL THEN table_gpu_model END AS gpu_model,
    CASE WHEN usage_class <> 'compute' THEN 0e0
      WHEN f_compute_unit = 1 THEN usage_amount * COALESCE({vcpu_per_amount}, 0e0)
      ELSE usage_amount * (1e0 / 3600e0) END AS vcpu_hours,
    CASE WHEN usage_class = 'compute' AND f_compute_unit = 1 AND table_gpu_count > 0
      AND vcpus_per_amount IS NOT NULL
      THEN usage_amount * (table_gpu_count * hours_per_amount) ELSE 0e0 END AS gpu_hours,
    CASE WHEN usage_class = 'compute' AND f_compute_unit = 1 AND has_table_instance
      AND vcpus_per_amount IS NOT NULL THEN usage_amount * (table_memory_gb * hours_per_amount)
      ELSE 0e0 END AS memory_gb_hours,
    CASE WHEN usage_class NOT IN ('storage_ssd', 'storage_hdd') THEN 0e0
      WHEN unit = 'GB-Hours' THEN usage_amount / 1000e0
      ELSE usage_amount * 24e0 * days_in_month / 1000e0 END AS storage_tb_hours,
    CASE WHEN usage_class = 'network' THEN usage_amount * 1e0 ELSE 0e0 END AS network_gb
  FROM c3 u0
  LEFT JOIN {codes} rc ON rc.code = {first}
  LEFT JOIN {cl} us ON us.provider = 'aws' AND us.list = 'unsupported_usage_types'
    AND us.seq = u0.unsupported_seq
)",
        split_tail = s(
            ") re-expresses EC2 instance usage already on the instance's own line; \
             counting it would double count"
        ),
        unsupported_mid = s("` in CCF's unsupported list: "),
        reexpresses = s("it re-expresses EC2 instance usage already on the instances' own lines"),
        region = region_case(false),
        note = region_case(true),
        cloudfront =
            s("CloudFront delivery is not transfer between data centres (CCF leaves it out)"),
        not_inter_dc = s(
            "data transfer that is not between data centres (CCF counts only inter-region \
             transfer)"
        ),
        arm = d.ends_with("ut", "'-ARM'"),
        // CCF multiplies the vCPUs by the billed amount before it turns Redshift seconds into
        // hours.
        vcpu_per_amount = if ccf {
            "vcpus_per_amount"
        } else {
            "(vcpus_per_amount * hours_per_amount)"
        },
        codes = f("aws_region_codes"),
        cl = f("classification_lists"),
    );

    let factors = estimator_ctes(o, n, "usage", "'aws'");
    format!(
        "WITH\n{src},\n{s0},\n{s1},\n{flags},\n{coef},\n{c1},\n{c2},\n{c3},\n{usage},\n{factors}"
    )
}

/// The estimator's CTEs over a CTE `usage` that has the usage schema's columns plus
/// `usage_year` and `usage_month` (YYYYMM of `period_start`, UTC): per-row factors, the
/// direct estimate, the ratios and the final SELECT of the ledger's columns.
pub fn estimator_ctes(o: &SqlOptions, n: &Names, usage: &str, provider: &str) -> String {
    let d = o.dialect;
    let s = |x: &str| d.str(x);
    let f = |t: &str| n.factor_table(t);
    let method = s(o.method.as_str());
    let dbl = d.double_type();
    let repl_match = format!(
        "(r.match_kind = 'always'
      OR (r.match_kind = 'includes' AND {includes})
      OR (r.match_kind = 'regex' AND {regex}))",
        includes = d.contains("k.usage_type", "r.pattern"),
        regex = d.regex_match("k.usage_type", "r.pattern"),
    );
    let year_pick = |table: &str, name: &str, value: &str| {
        format!(
            "{name}_pick AS (
  SELECT t.provider, t.region, y.usage_year,
    COALESCE(MAX(CASE WHEN t.year <= y.usage_year THEN t.year END), MIN(t.year)) AS year
  FROM {tbl} t CROSS JOIN years y
  WHERE t.provider = {provider}
  GROUP BY t.provider, t.region, y.usage_year
),
{name} AS (
  SELECT p.provider, p.region, p.usage_year, p.year, t.{value} AS value
  FROM {name}_pick p JOIN {tbl} t ON t.provider = p.provider AND t.region = p.region
    AND t.year = p.year
)",
            tbl = f(table),
        )
    };
    let fallback = carbonledger_factors::UNKNOWN_REGION;
    let ccf = o.method == crate::estimate::Method::Ccf;
    // estimate/ratio.rs: `--method ccf` takes the known kWh per unit of cost (AWS) or of usage
    // amount (GCP) of the same unit; `--method default` the first of: same service and unit by
    // amount, same unit by cost, all known usage by cost (costs below zero count as zero).
    let ratio_cols = if ccf {
        "    CASE WHEN bu.per <> 0 THEN 'u' END AS basis,
    CASE WHEN bu.per <> 0 THEN bu.e / bu.per * (CASE WHEN direct.provider = 'aws' THEN direct.cost
      ELSE direct.usage_amount END) END AS ratio_kwh,
    CASE WHEN bu.per <> 0 THEN bu.k / bu.per * (CASE WHEN direct.provider = 'aws' THEN direct.cost
      ELSE direct.usage_amount END) END AS ratio_ccf,
    CASE WHEN bu.per <> 0 THEN (bu.k / bu.per * (CASE WHEN direct.provider = 'aws'
      THEN direct.cost ELSE direct.usage_amount END) - bu.e / bu.per * (CASE WHEN
      direct.provider = 'aws' THEN direct.cost ELSE direct.usage_amount END)) * grid_v END
      AS ratio_kg"
    } else {
        "    CASE WHEN su.a > 0 THEN 'su' WHEN bu.c > 0 THEN 'u' WHEN bp.c > 0 THEN 'p' END
      AS basis,
    CASE WHEN su.a > 0 THEN su.e / su.a * GREATEST(usage_amount, 0e0)
      WHEN bu.c > 0 THEN bu.e / bu.c * GREATEST(cost, 0e0)
      WHEN bp.c > 0 THEN bp.e / bp.c * GREATEST(cost, 0e0) END AS ratio_kwh,
    CASE WHEN su.a > 0 THEN su.b / su.a * GREATEST(usage_amount, 0e0)
      WHEN bu.c > 0 THEN bu.b / bu.c * GREATEST(cost, 0e0)
      WHEN bp.c > 0 THEN bp.b / bp.c * GREATEST(cost, 0e0) END AS ratio_kg"
    };
    let pad_month = format!(
        "CASE WHEN MOD(CAST(usage_month AS {int}), 100) < 10 THEN '0' ELSE '' END || \
         CAST(MOD(CAST(usage_month AS {int}), 100) AS {string})",
        int = d.int_type(),
        string = d.string_type()
    );
    format!(
        "set_info AS (SELECT MAX(label) AS factor_set FROM {set_info}),
years AS (SELECT DISTINCT usage_year FROM {usage}),
{pue},
{gl},
{gm},
coef_e AS (
  SELECT
    MAX(CASE WHEN name = 'memory_kwh_per_gb_hour' THEN value END) AS memory_kwh_per_gb_hour,
    MAX(CASE WHEN name = 'ssd_wh_per_tb_hour' THEN value END) AS ssd_wh_per_tb_hour,
    MAX(CASE WHEN name = 'hdd_wh_per_tb_hour' THEN value END) AS hdd_wh_per_tb_hour,
    MAX(CASE WHEN name = 'network_kwh_per_gb' THEN value END) AS network_kwh_per_gb
  FROM {coefs}
),
rkeys AS (SELECT DISTINCT provider, service, usage_type FROM {usage}),
rmatch AS (
  SELECT k.provider, k.service, k.usage_type, MIN(r.rule_order) AS rule_order
  FROM rkeys k JOIN {repl} r ON r.provider = k.provider AND r.service = k.service
  WHERE {repl_match}
  GROUP BY k.provider, k.service, k.usage_type
),
rfactor AS (
  SELECT m.provider, m.service, m.usage_type, MAX(r.factor) AS factor
  FROM rmatch m JOIN {repl} r ON r.provider = m.provider AND r.service = m.service
    AND r.rule_order = m.rule_order
  GROUP BY m.provider, m.service, m.usage_type
),
u2 AS (
  SELECT u.*,
    CASE WHEN {ccf} AND u.provider = 'aws' AND u.region_note IS NOT NULL THEN NULL
      ELSE u.region END AS f_region,
    CASE WHEN {ccf} AND u.provider = 'aws' AND u.usage_class = 'compute'
      AND u.vcpu_hours = 0 AND u.usage_amount <> 0 THEN 1 ELSE 0 END AS no_vcpus,
    CASE WHEN {negative} THEN 'excluded' ELSE u.usage_class END AS eff_class,
    CASE WHEN {negative} THEN {negative_reason} ELSE u.exclusion_reason END AS eff_reason
  FROM {usage} u
),
rowf AS (
  SELECT u.*,
    COALESCE(rf.factor, 1e0) AS rf,
    CASE WHEN {ccf} AND u.provider = 'gcp' AND u.usage_class = 'memory' THEN 1e0
      ELSE COALESCE(rf.factor, 1e0) END AS mem_rf,
    CASE WHEN {ccf} AND u.provider = 'aws' AND u.usage_class <> 'compute'
      AND u.f_byte_hours = 1 THEN u.usage_amount / 1099511627776e0
      ELSE u.storage_tb_hours END AS tb_hours_v,
    COALESCE(pr.value, ps.value, 1e0) AS pue_v,
    COALESCE(gl.value, gu.value, 0e0) AS grid_v,
    CAST(COALESCE(gl.year, gu.year, u.usage_year) AS {int}) AS grid_year_v,
    gm.value AS market_v,
    ifc.instance_type AS f_instance,
    CASE WHEN ifc.instance_type IS NOT NULL THEN ifc.watts_per_vcpu
      WHEN cp.cpu_architecture IS NOT NULL THEN cp.watts_per_vcpu
      ELSE cf.watts_per_vcpu END AS watts_v,
    CASE WHEN ifc.instance_type IS NOT NULL THEN ifc.kwh_per_vcpu_hour
      WHEN cp.cpu_architecture IS NOT NULL THEN cp.kwh_per_vcpu_hour
      ELSE cf.kwh_per_vcpu_hour END AS kwh_vcpu,
    CASE WHEN u.usage_class = 'gpu' AND ifc.instance_type IS NOT NULL
        AND u.gpu_model IS NULL THEN ifc.gpu_row_kwh_per_gpu_hour
      WHEN u.gpu_model IS NOT NULL AND gp.gpu_model IS NOT NULL THEN gp.kwh_per_gpu_hour
      WHEN u.gpu_model IS NOT NULL THEN gf.kwh_per_gpu_hour
      WHEN ifc.instance_type IS NOT NULL THEN ifc.kwh_per_gpu_hour
      ELSE gf.kwh_per_gpu_hour END AS kwh_gpu,
    CASE WHEN u.usage_class = 'memory' THEN 1e0
      WHEN u.usage_class = 'compute' AND ifc.instance_type IS NOT NULL
        THEN ifc.memory_fraction
      ELSE 0e0 END AS memory_fraction,
    CASE u.usage_class WHEN 'storage_ssd' THEN coef_e.ssd_wh_per_tb_hour
      WHEN 'storage_hdd' THEN coef_e.hdd_wh_per_tb_hour ELSE 0e0 END AS storage_wh,
    CASE WHEN u.usage_class <> 'compute' OR ifc.instance_type IS NULL OR u.no_vcpus = 1
      THEN 0e0
      WHEN u.usage_unit IN ('Hrs', 'Hours', 'hours') THEN
        CASE ifc.embodied_basis_hours WHEN 'per_amount' THEN u.usage_amount * ifc.embodied_kg_hours
          WHEN 'per_vcpu_hour' THEN u.vcpu_hours * ifc.embodied_kg_hours ELSE 0e0 END
      WHEN u.usage_unit = 'seconds' AND u.service = 'AmazonRedshift'
        AND ifc.embodied_basis_hours = 'per_amount'
        THEN u.usage_amount * (ifc.embodied_kg_hours / 3600e0)
      ELSE
        CASE ifc.embodied_basis_other WHEN 'per_amount' THEN u.usage_amount * ifc.embodied_kg_other
          WHEN 'per_vcpu_hour' THEN u.vcpu_hours * ifc.embodied_kg_other ELSE 0e0 END
    END AS embodied_v,
    coef_e.memory_kwh_per_gb_hour, coef_e.network_kwh_per_gb
  FROM u2 u
  CROSS JOIN coef_e
  LEFT JOIN rfactor rf ON rf.provider = u.provider AND rf.service = u.service
    AND rf.usage_type = u.usage_type
  LEFT JOIN pue_y pr ON pr.provider = u.provider AND pr.region = u.f_region
    AND pr.usage_year = u.usage_year
  LEFT JOIN pue_y ps ON ps.provider = u.provider AND ps.region = '*'
    AND ps.usage_year = u.usage_year
  LEFT JOIN grid_l gl ON gl.provider = u.provider AND gl.region = u.f_region
    AND gl.usage_year = u.usage_year
  LEFT JOIN grid_l gu ON gu.provider = u.provider AND gu.region = {fallback}
    AND gu.usage_year = u.usage_year
  LEFT JOIN grid_m gm ON gm.provider = u.provider AND gm.region = u.f_region
    AND gm.usage_year = u.usage_year
  LEFT JOIN {ifs} ifc ON ifc.provider = u.provider AND ifc.method = {method}
    AND ifc.instance_type = u.instance_type
  LEFT JOIN {cps} cp ON cp.provider = u.provider AND cp.method = {method}
    AND cp.cpu_architecture = u.cpu_architecture
  LEFT JOIN {cps} cf ON cf.provider = u.provider AND cf.method = {method}
    AND cf.cpu_architecture = {cpu_fallback}
  LEFT JOIN {gps} gp ON gp.provider = u.provider AND gp.method = {method}
    AND gp.gpu_model = u.gpu_model
  LEFT JOIN {gps} gf ON gf.provider = u.provider AND gf.method = {method}
    AND gf.gpu_model = {gpu_mean}
),
direct0 AS (
  SELECT rowf.*,
    vcpu_hours * kwh_vcpu * pue_v * rf AS cpu_kwh_v,
    gpu_hours * COALESCE(kwh_gpu, 0e0) * pue_v * rf AS gpu_kwh_v,
    memory_gb_hours * memory_fraction * memory_kwh_per_gb_hour * pue_v * mem_rf
      AS memory_kwh_v,
    tb_hours_v * storage_wh / 1000e0 * pue_v * rf AS storage_kwh_v,
    network_gb * network_kwh_per_gb * pue_v AS network_kwh_v
  FROM rowf
),
direct AS (
  SELECT direct0.*,
    cpu_kwh_v + gpu_kwh_v + memory_kwh_v + storage_kwh_v + network_kwh_v AS energy_v,
    CASE WHEN grid_v > 0 THEN cpu_kwh_v + gpu_kwh_v + memory_kwh_v + storage_kwh_v
      + network_kwh_v + embodied_v / grid_v
      ELSE cpu_kwh_v + gpu_kwh_v + memory_kwh_v + storage_kwh_v + network_kwh_v END AS ccf_v
  FROM direct0
),
known AS (
  SELECT provider, usage_month, currency, service, usage_unit,
    SUM(energy_v) AS e, SUM(ccf_v) AS k,
    SUM(embodied_v) AS b, SUM(cost) AS c, SUM(usage_amount) AS a
  FROM direct WHERE eff_class NOT IN ('unknown', 'excluded') AND no_vcpus = 0
  GROUP BY provider, usage_month, currency, service, usage_unit
),
by_u AS (
  SELECT provider, usage_month, currency, usage_unit, SUM(e) AS e, SUM(k) AS k, SUM(b) AS b,
    SUM(c) AS c, SUM(a) AS a,
    CASE WHEN provider = 'aws' THEN SUM(c) ELSE SUM(a) END AS per
  FROM known GROUP BY provider, usage_month, currency, usage_unit
),
by_p AS (
  SELECT provider, usage_month, currency, SUM(e) AS e, SUM(b) AS b, SUM(c) AS c
  FROM known GROUP BY provider, usage_month, currency
),
ratio AS (
  SELECT direct.*,
{ratio_cols}
  FROM direct
  LEFT JOIN known su ON direct.eff_class = 'unknown' AND su.provider = direct.provider
    AND su.usage_month = direct.usage_month AND su.currency = direct.currency
    AND su.service = direct.service AND su.usage_unit = direct.usage_unit
  LEFT JOIN by_u bu ON direct.eff_class = 'unknown' AND bu.provider = direct.provider
    AND bu.usage_month = direct.usage_month AND bu.currency = direct.currency
    AND bu.usage_unit = direct.usage_unit
  LEFT JOIN by_p bp ON direct.eff_class = 'unknown' AND bp.provider = direct.provider
    AND bp.usage_month = direct.usage_month AND bp.currency = direct.currency
),
ledger AS (
  SELECT ratio.*,
    CASE WHEN eff_class = 'excluded' THEN 'excluded'
      WHEN eff_class <> 'unknown' THEN 'estimated'
      WHEN basis IS NOT NULL THEN 'ratio' ELSE 'excluded' END AS kind,
    CASE WHEN eff_class = 'unknown' AND basis IS NULL THEN
      'no estimated ' || provider || ' usage in {in_unit}
      || CAST(CAST(FLOOR(usage_month / 100) AS {int}) AS {string}) || '-'
      || {pad_month} || ' to take a ratio from'{ccf_tail}
      ELSE eff_reason END AS reason_out,
    CASE WHEN eff_class = 'unknown' AND basis IS NULL THEN 'excluded'
      ELSE eff_class END AS class_out
  FROM ratio
)
SELECT
  period_start, period_end, provider, billing_account, usage_account, service, region,
  region_note, usage_type, lit AS charge_type, class_out AS usage_class,
  reason_out AS exclusion_reason, instance_type, cpu_architecture, gpu_model, vcpu_hours,
  gpu_hours, memory_gb_hours, storage_tb_hours, network_gb, usage_amount, usage_unit, cost,
  currency, CAST(NULL AS {string}) AS tags, {source} AS source, source_line,
  {method} AS method, (SELECT factor_set FROM set_info) AS factor_set, kind AS estimate_kind,
  CASE WHEN kind = 'estimated' AND vcpu_hours > 0 THEN watts_v END AS watts_per_vcpu,
  CASE WHEN kind = 'estimated' THEN pue_v END AS pue,
  CASE WHEN kind = 'estimated' THEN rf END AS replication_factor,
  CASE WHEN kind = 'estimated' THEN cpu_kwh_v END AS cpu_kwh,
  CASE WHEN kind = 'estimated' THEN gpu_kwh_v END AS gpu_kwh,
  CASE WHEN kind = 'estimated' THEN memory_kwh_v END AS memory_kwh,
  CASE WHEN kind = 'estimated' THEN storage_kwh_v END AS storage_kwh,
  CASE WHEN kind = 'estimated' THEN network_kwh_v END AS network_kwh,
  {energy} AS energy_kwh,
  CASE WHEN kind <> 'excluded' THEN grid_v END AS grid_kg_per_kwh,
  CASE WHEN kind <> 'excluded' THEN grid_year_v END AS grid_year,
  CASE WHEN kind <> 'excluded' THEN market_v END AS market_kg_per_kwh,
  {energy} * grid_v AS scope2_location_kg,
  {energy} * market_v AS scope2_market_kg,
  CASE WHEN kind = 'estimated' THEN embodied_v WHEN kind = 'ratio' THEN ratio_kg
    END AS scope3_embodied_kg,
  {ccf_kwh} AS ccf_kwh,
  CAST(NULL AS {string}) AS notes
FROM ledger",
        set_info = f("set_info"),
        pue = year_pick("pue", "pue_y", "pue"),
        gl = year_pick("grid_location", "grid_l", "kg_per_kwh"),
        gm = year_pick("grid_market", "grid_m", "kg_per_kwh"),
        repl = f("replication_rules"),
        int = d.int_type(),
        string = d.string_type(),
        ifs = f("instance_factors"),
        cps = f("cpu_profiles"),
        gps = f("gpu_profiles"),
        coefs = f("coefficients"),
        fallback = s(fallback),
        cpu_fallback = s(super::export::CPU_FALLBACK_KEY),
        gpu_mean = s(super::export::GPU_MEAN_KEY),
        source = s(&o.table),
        energy =
            "CASE WHEN kind = 'estimated' THEN energy_v WHEN kind = 'ratio' THEN ratio_kwh END",
        ccf = if ccf { "TRUE" } else { "FALSE" },
        // The default method excludes rows that bill a negative usage amount or quantity
        // (`estimate::exclude_negative_usage`); ccf lets the sign carry through.
        negative = if ccf {
            "FALSE"
        } else {
            "u.usage_class <> 'excluded' AND (u.usage_amount < 0 OR u.vcpu_hours < 0 \
             OR u.gpu_hours < 0 OR u.memory_gb_hours < 0 OR u.storage_tb_hours < 0 \
             OR u.network_gb < 0)"
        },
        negative_reason = s(crate::estimate::NEGATIVE_USAGE_REASON),
        ccf_kwh = if ccf {
            "CASE WHEN kind = 'estimated' THEN ccf_v WHEN kind = 'ratio' THEN ratio_ccf END"
                .to_owned()
        } else {
            format!("CAST(NULL AS {dbl})")
        },
        in_unit = if ccf {
            "unit `' || usage_unit || '` in '"
        } else {
            "'"
        },
        ccf_tail = if ccf { " || ' (ccf method)'" } else { "" },
    )
}
