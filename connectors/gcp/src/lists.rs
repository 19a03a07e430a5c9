//! CCF's GCP lists (`packages/gcp/src/lib/BillingExportTypes.ts`, `BillingExportTable.ts`,
//! `MachineTypes.ts`, app snapshot b7a049c7, 2024-03, as transcribed in
//! `ccf-methodology.md` §1.1, §1.2 and §4.2), copied as data. Lists matched with CCF's
//! `containsAny` are compiled as unescaped `\b<entry>\b` regexes in `classify`; the others say
//! how they are matched.

/// The usage units CCF's BigQuery query reads (`WHERE usage.unit IN (…)`).
pub const QUERY_UNITS: [&str; 4] = ["byte-seconds", "seconds", "bytes", "requests"];

/// SKU descriptions that are not usage (CCF drops them). `containsAny`.
pub const UNSUPPORTED_USAGE_TYPES: [&str; 9] = [
    "Fee",
    "fee",
    "Billing",
    "Reattribution",
    "Cache Fill",
    "External IP Charge",
    "Static Ip",
    "Vpn Tunnel",
    "Service Charge",
];

/// SKU descriptions CCF cannot map to a quantity: estimated by ratio. `containsAny`.
pub const UNKNOWN_USAGE_TYPES: [&str; 32] = [
    "Dedicated Memcache",
    "BigQuery BI Engine",
    "AutoML Tables Deployment",
    "Local Disk Time Dataprep",
    "Shuffle Time",
    "Snapshots message backlog",
    "Subscriptions message backlog",
    "Subscriptions retained acknowledged messages",
    "Cloud SQL: Backups",
    "Publisher Throughput Capacity",
    "Subscriber Throughput Capacity",
    "Server node",
    "Backend Instances",
    "Frontend Instances",
    "Server Node",
    "Analysis Slots Attribution",
    "Build time",
    "Dataprep Unit",
    "IP address",
    "usage - hour",
    "D2",
    "D4",
    "Policy Charge",
    "Endpoint Charge",
    "NAT Gateway",
    "Action Time",
    "Billing Adjustment",
    "Filestore Capacity Premium",
    "Filestore Capacity Standard",
    "Pod mCPU Requests",
    "Pod Memory Requests",
    "Pod Ephemeral Storage Requests",
];

/// Services (`service.description`) CCF cannot map to a quantity. `containsAny`.
pub const UNKNOWN_SERVICE_TYPES: [&str; 24] = [
    "Cloud DNS",
    "Cloud Key Management Service",
    "Cloud Machine Learning Engine",
    "Cloud Spanner",
    "Cloud Speech API",
    "SendGrid",
    "Support",
    "Secret Manager",
    "Cloud Build",
    "Cloud Run",
    "Cloud Data Fusion",
    "Cloud Dialogflow API",
    "Cloud Natural Language",
    "BigQuery Data Transfer Service",
    "BigQuery Reservation API",
    "Cloud AutoML",
    "Cloud Test Lab",
    "Cloud TPU",
    "Cloud Video Intelligence API",
    "Cloud Vision API",
    "Container Builder",
    "Firebase Test Lab",
    "Security Command Center",
    "Stackdriver",
];

/// Services whose usage unit CCF overwrites with `Unknown` after the query.
pub const UNKNOWN_UNIT_SERVICES: [&str; 2] = ["Secret Manager", "Cloud Key Management Service"];

/// Words that make a `seconds` SKU compute (and a `byte-seconds` SKU not memory).
/// `containsAny`.
pub const COMPUTE_USAGE_TYPES: [&str; 9] = [
    "Core",
    "CORE",
    "VCPU",
    "vCPU",
    "CPU",
    "CPUs",
    "Kubernetes Clusters",
    "GPU",
    "DCU",
];

/// Words that make a `byte-seconds` SKU memory. `containsAny`.
pub const MEMORY_USAGE_TYPES: [&str; 3] = ["RAM", "Ram", "Memory"];

/// Words that make a `bytes` SKU networking. `containsAny`.
pub const NETWORKING_USAGE_TYPES: [&str; 5] = [
    "Egress",
    "egress",
    "data delivery",
    "network traffic",
    "Download",
];

/// GKE cluster SKUs (`includes`): vCPU-hours × `gcp_vcpus_per_gke_cluster`.
pub const GKE_CLUSTERS: &str = "Kubernetes Clusters";

/// Cloud Composer environment SKUs: vCPU-hours × `gcp_vcpus_per_cloud_composer_environment`.
/// `containsAny`.
pub const COMPOSER_USAGE_TYPES: [&str; 3] = [
    "Cloud Composer Compute CPUs",
    "Cloud Composer vCPU",
    "Cloud Composer SQL vCPU",
];

/// GKE Autopilot pod CPU requests, billed in milli-vCPU-seconds (`includes`).
pub const POD_MCPU_REQUESTS: &str = "Pod mCPU Requests";

/// GKE Autopilot pod memory requests, billed in byte-seconds (`includes`).
pub const POD_MEMORY_REQUESTS: &str = "Pod Memory Requests";

/// The machine type CCF assumes for GKE cluster and Cloud Composer environment SKUs.
pub const GKE_COMPOSER_MACHINE_TYPE: &str = "e2-medium";

/// GPU models CCF recognises in a GPU SKU, by `startsWith` (§1.2). Their spelling is CCF's
/// processor names, so `Nvidia Tesla T4 GPU …` SKUs match none of them.
pub const CCF_GPU_MODELS: [&str; 6] = [
    "Nvidia T4",
    "Nvidia Tesla K80",
    "Nvidia Tesla V100",
    "Nvidia Tesla A100",
    "Nvidia Tesla P4",
    "Nvidia Tesla P100",
];

/// Shared-core machine types, which CCF gives no processor (`includes`).
pub const SHARED_CORE_MACHINE_TYPES: [&str; 5] =
    ["e2-micro", "e2-small", "e2-medium", "f1-micro", "g1-small"];

/// CCF's processors by the **first two characters** of the machine type (§1.1 "Processor
/// lookup"); `;`-separated as in `instances.csv`.
pub const CCF_PROCESSORS_BY_PREFIX: [(&str, &str); 7] = [
    ("e2", "Skylake;Broadwell;Haswell;AMD EPYC 2nd Gen"),
    ("n2", "Cascade Lake"),
    ("n1", "Skylake;Broadwell;Haswell;Sandy Bridge;Ivy Bridge"),
    ("c2", "Cascade Lake"),
    ("m1", "Broadwell;Skylake"),
    ("m2", "Broadwell;Cascade Lake"),
    ("a2", "Cascade Lake"),
];

/// SKU descriptions of Compute Engine cores that do not start with their series name
/// (`startsWith`): the series they bill (default method only).
pub const SKU_SERIES_PREFIXES: [(&str, &str); 3] = [
    ("Compute optimized", "c2"),
    ("Memory-optimized", "m1"),
    ("Custom Instance", "n1"),
];

/// Every list above by a stable name, for `carbonledger factors export`: the SQL form of the
/// method (`carbonledger sql`) joins them as one table and matches each as said at the list.
/// Pairs are flattened as `prefix=series`.
pub fn classification_lists() -> Vec<(&'static str, Vec<String>)> {
    let own = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let pairs = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(a, b)| format!("{a}={b}"))
            .collect::<Vec<_>>()
    };
    vec![
        ("query_units", own(&QUERY_UNITS)),
        ("unsupported_usage_types", own(&UNSUPPORTED_USAGE_TYPES)),
        ("unknown_usage_types", own(&UNKNOWN_USAGE_TYPES)),
        ("unknown_service_types", own(&UNKNOWN_SERVICE_TYPES)),
        ("unknown_unit_services", own(&UNKNOWN_UNIT_SERVICES)),
        ("compute_usage_types", own(&COMPUTE_USAGE_TYPES)),
        ("memory_usage_types", own(&MEMORY_USAGE_TYPES)),
        ("networking_usage_types", own(&NETWORKING_USAGE_TYPES)),
        ("composer_usage_types", own(&COMPOSER_USAGE_TYPES)),
        ("ccf_gpu_models", own(&CCF_GPU_MODELS)),
        ("shared_core_machine_types", own(&SHARED_CORE_MACHINE_TYPES)),
        ("ccf_processors_by_prefix", pairs(&CCF_PROCESSORS_BY_PREFIX)),
        ("sku_series_prefixes", pairs(&SKU_SERIES_PREFIXES)),
    ]
}

/// `includes(list, s)`: whether `s` contains any entry.
pub fn includes_any(list: &[&str], s: &str) -> bool {
    list.iter().any(|x| s.contains(x))
}
