"""Checks of deploy/ that no off-the-shelf validator makes, run by deploy/check.sh.

    python check_deploy.py config            the example config parses and is complete
    python check_deploy.py drift             ConfigMap == carbonledger.toml; one command
    python check_deploy.py context DIR       copy the Docker build context into DIR
    python check_deploy.py includes DIR      the context has every include_str!/bytes! file
    python check_deploy.py manifests FILE    semantics of the rendered Kubernetes manifests
                           [--overlay]     (of an overlay: no placeholders left)
    python check_deploy.py units             the systemd units keep their hardening
    python check_deploy.py runnable DIR      DIR/carbonledger.toml: the example config with
                                             the ledger in DIR and API sources on a closed
                                             loopback port, for `carbonledger run`

Each prints what it checked and exits non-zero with the reasons when a check fails.
"""

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
CONFIG = DEPLOY / "carbonledger.toml"
CONFIG_PATH = "/etc/carbonledger/carbonledger.toml"
COMMAND = ["run", "--config", CONFIG_PATH]
KINDS = {"aws-cur", "aws-s3", "cost-explorer", "gcp-export", "bigquery", "focus",
         "azure-export"}
# Kubernetes' resource.Quantity, as its OpenAPI description gives it.
IDENTITY = ("eks.amazonaws.com/role-arn", "iam.gke.io/gcp-service-account",
            "azure.workload.identity/client-id")
QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)"
    r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)

errors = []


def fail(message):
    errors.append(message)


def done(what, detail=""):
    if errors:
        for message in errors:
            print(f"FAIL {what}: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok {what}{': ' if detail else ''}{detail}")


def check_config():
    with CONFIG.open("rb") as f:
        config = tomllib.load(f)
    ledger = config.get("ledger", {})
    if not str(ledger.get("path", "")).startswith("/var/lib/carbonledger/"):
        fail("[ledger] path must lie in /var/lib/carbonledger (the volume and StateDirectory)")
    if ledger.get("method") not in ("default", "ccf"):
        fail(f"[ledger] method {ledger.get('method')!r} is neither default nor ccf")
    months = config.get("period", {}).get("months", [])
    for month in months:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(month)):
            fail(f"[period] month {month!r} is not YYYY-MM")
    sources = config.get("source", [])
    if not sources:
        fail("no [[source]]")
    names = [s.get("name") for s in sources]
    if len(set(names)) != len(names) or None in names:
        fail(f"source names must be present and distinct: {names}")
    for source in sources:
        if source.get("kind") not in KINDS:
            fail(f"source {source.get('name')!r}: kind {source.get('kind')!r} not in {KINDS}")
    unknown = set(config) - {"ledger", "period", "source", "postgres"}
    if unknown:
        fail(f"unknown tables {sorted(unknown)}")
    text = CONFIG.read_text()
    if re.search(r"(?i)(secret|password|token|access_key)\s*=", text):
        fail("a credential-like key in the example config: credentials never live in the file")
    done("config", f"{CONFIG.name}: {len(sources)} sources, tables {sorted(config)}")


def _yaml_documents(path):
    import yaml  # from deploy-venv (PyYAML, a dependency of kubernetes-validate)

    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def check_drift():
    (configmap,) = _yaml_documents(DEPLOY / "kubernetes" / "configmap.yaml")
    if configmap["data"].get("carbonledger.toml") != CONFIG.read_text():
        fail("kubernetes/configmap.yaml data.carbonledger.toml differs from carbonledger.toml")

    # One command everywhere: the image's CMD, the CronJob's args, the service's ExecStart.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)
    if not cmd or json.loads(cmd.group(1)) != COMMAND:
        fail(f"Dockerfile CMD is not {COMMAND}")
    if not entrypoint or json.loads(entrypoint.group(1)) != ["carbonledger"]:
        fail('Dockerfile ENTRYPOINT is not ["carbonledger"]')
    (cronjob,) = _yaml_documents(DEPLOY / "kubernetes" / "cronjob.yaml")
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    if container.get("args", [])[:3] != COMMAND or "command" in container:
        fail(f"CronJob args {container.get('args')} do not start with {COMMAND}")
    service = (DEPLOY / "systemd" / "carbonledger.service").read_text()
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", service, re.M)
    argv = shlex.split(exec_start)
    if argv[0] != "/usr/local/bin/carbonledger" or argv[1:4] != COMMAND:
        fail(f"ExecStart {argv} is not /usr/local/bin/carbonledger {' '.join(COMMAND)} …")
    done("drift", "ConfigMap = carbonledger.toml; Dockerfile, CronJob and service run "
         f"`carbonledger {' '.join(COMMAND)}`")


def _pattern(pattern):
    """A .dockerignore pattern as a regex (Go's filepath.Match: * and ? stop at "/")."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "$")


def context_files():
    """The tracked files that the root .dockerignore lets into the build context.

    Docker's rules: patterns in order, the last that matches wins, `!` re-includes, and a
    pattern that matches a folder matches everything under it.
    """
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _pattern(line.lstrip("!").strip("/"))))
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    kept = []
    for name in filter(None, listed):
        parts = name.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negate, regex in rules:
            if any(regex.match(p) for p in prefixes):
                excluded = not negate
        if not excluded:
            kept.append(name)
    return kept


def copy_context(target):
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    files = context_files()
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    # Every COPY source of the Dockerfile that is not from a stage must be in the context.
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from=") for w in words):
            sources = [w for w in words[1:-1] if not w.startswith("--")]
            for source in sources:
                if source != "." and not (target / source).exists():
                    fail(f"Dockerfile copies {source}, which .dockerignore leaves out")
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    done("context", f"{len(files)} files, {size / 2**20:.1f} MiB")


def check_includes(target):
    """Every file that a crate in the context embeds with a literal path is in the context."""
    target = Path(target)
    literal = re.compile(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)')
    count = 0
    for source in target.rglob("*.rs"):
        for path in literal.findall(source.read_text()):
            count += 1
            if not (source.parent / path).exists():
                fail(f"{source.relative_to(target)} embeds {path}, missing from the context")
    done("includes", f"{count} embedded files present")


def check_manifests(rendered, overlay=False):
    docs = _yaml_documents(rendered)
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    for kind in ("CronJob", "ConfigMap", "ServiceAccount", "PersistentVolumeClaim"):
        if kind not in by_kind:
            fail(f"no {kind} in the rendered manifests")
    if errors:
        done("manifests")
    (cronjob,) = by_kind["CronJob"].values()
    spec = cronjob["spec"]
    if len(spec["schedule"].split()) != 5:
        fail(f"schedule {spec['schedule']!r} is not five cron fields")
    if spec.get("concurrencyPolicy") != "Forbid":
        fail("concurrencyPolicy must be Forbid (one writer of the ledger)")
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if not isinstance(spec.get(key), int):
            fail(f"{key} missing")
    job = spec["jobTemplate"]["spec"]
    if not isinstance(job.get("backoffLimit"), int):
        fail("backoffLimit missing")
    pod = job["template"]["spec"]
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        fail(f"restartPolicy {pod.get('restartPolicy')!r} is not Never or OnFailure")
    if job.get("podFailurePolicy") and pod.get("restartPolicy") != "Never":
        fail("podFailurePolicy needs restartPolicy Never")
    for rule in job.get("podFailurePolicy", {}).get("rules", []):
        if rule.get("action") not in ("FailJob", "Ignore", "Count", "FailIndex"):
            fail(f"podFailurePolicy action {rule.get('action')!r}")
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True or security.get("runAsUser", 0) == 0:
        fail("the pod must run as a non-root uid")
    if pod.get("serviceAccountName") not in by_kind["ServiceAccount"]:
        fail(f"serviceAccountName {pod.get('serviceAccountName')!r} is not rendered")
    (account,) = by_kind["ServiceAccount"].values()
    annotations = account["metadata"].get("annotations", {})
    if not any(key in annotations for key in IDENTITY):
        fail(f"the ServiceAccount has none of the workload identity annotations {IDENTITY}")
    if overlay:
        for key, value in annotations.items():
            if "REPLACE_ME" in value or value.startswith("00000000-"):
                fail(f"the overlay keeps the placeholder {key}: {value}")
    else:
        for key in IDENTITY:
            if key not in annotations:
                fail(f"ServiceAccount annotation {key} missing")
    azure_label = job["template"]["metadata"]["labels"].get("azure.workload.identity/use")
    if ("azure.workload.identity/client-id" in annotations) != (azure_label == "true"):
        fail('the Azure client-id annotation and the pod label azure.workload.identity/use: '
             '"true" go together')
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for volume in volumes.values():
        if "configMap" in volume and volume["configMap"]["name"] not in by_kind["ConfigMap"]:
            fail(f"volume {volume['name']}: ConfigMap {volume['configMap']['name']} not rendered")
        claim = volume.get("persistentVolumeClaim", {}).get("claimName")
        if claim and claim not in by_kind["PersistentVolumeClaim"]:
            fail(f"volume {volume['name']}: PVC {claim} not rendered")
    for container in pod["containers"]:
        name = container["name"]
        context = container.get("securityContext", {})
        if context.get("readOnlyRootFilesystem") is not True:
            fail(f"{name}: readOnlyRootFilesystem must be true")
        if context.get("allowPrivilegeEscalation") is not False:
            fail(f"{name}: allowPrivilegeEscalation must be false")
        if "ALL" not in context.get("capabilities", {}).get("drop", []):
            fail(f"{name}: capabilities must drop ALL")
        if container.get("imagePullPolicy", "IfNotPresent") not in (
            "Always", "IfNotPresent", "Never"
        ):
            fail(f"{name}: imagePullPolicy {container['imagePullPolicy']!r}")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(part, {}):
                    fail(f"{name}: resources.{part}.{resource} missing")
            for resource, value in resources.get(part, {}).items():
                if not QUANTITY.match(str(value)):
                    fail(f"{name}: resources.{part}.{resource} {value!r} is not a quantity")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        for path, volume in mounts.items():
            if volume not in volumes:
                fail(f"{name}: volumeMount {path} names no volume {volume!r}")
        # What carbonledger writes must be a mount when the root file system is read-only.
        for path in ("/var/lib/carbonledger", "/var/cache/carbonledger", "/tmp"):
            if path not in mounts:
                fail(f"{name}: {path} is not a mount (read-only root)")
        if mounts.get("/etc/carbonledger") not in volumes or "configMap" not in volumes.get(
            mounts.get("/etc/carbonledger"), {}
        ):
            fail(f"{name}: /etc/carbonledger is not the ConfigMap")
        env = {e["name"]: e for e in container.get("env", [])}
        if env.get("XDG_CACHE_HOME", {}).get("value") != "/var/cache":
            fail(f"{name}: XDG_CACHE_HOME must be /var/cache (cache = /var/cache/carbonledger)")
    for claim in by_kind["PersistentVolumeClaim"].values():
        storage = claim["spec"]["resources"]["requests"]["storage"]
        if not QUANTITY.match(str(storage)):
            fail(f"PVC {claim['metadata']['name']}: storage {storage!r} is not a quantity")
    done("manifests", ", ".join(sorted(f"{k}/{n}" for k, d in by_kind.items() for n in d)))


# What the service must keep (DynamicUser= implies some of them; they are spelled out so that
# the unit says what it relies on, and dropping one fails here, not only in the exposure score).
SERVICE_NEEDS = {
    "Type": "oneshot", "DynamicUser": "yes", "StateDirectory": "carbonledger",
    "CacheDirectory": "carbonledger", "ProtectSystem": "strict", "ProtectHome": "yes",
    "NoNewPrivileges": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
    "PrivateUsers": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
    "MemoryDenyWriteExecute": "yes", "Environment": "XDG_CACHE_HOME=%C",
}
TIMER_NEEDS = {"Persistent": "true", "RandomizedDelaySec": None, "OnCalendar": None}


def _unit(path):
    entries = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def check_units():
    service = _unit(DEPLOY / "systemd" / "carbonledger.service")
    for key, value in SERVICE_NEEDS.items():
        if value not in service.get(key, []):
            fail(f"carbonledger.service lacks {key}={value}")
    if "SuccessExitStatus" in service:
        fail("SuccessExitStatus= would hide exit code 4 (some sources failed); see the unit")
    timer = _unit(DEPLOY / "systemd" / "carbonledger.timer")
    for key, value in TIMER_NEEDS.items():
        if key not in timer or (value is not None and value not in timer[key]):
            fail(f"carbonledger.timer lacks {key}={value or '…'}")
    done("units", f"{len(SERVICE_NEEDS)} service and {len(TIMER_NEEDS)} timer settings present")


def write_runnable(target):
    """The example config, changed only where a run here must differ: the ledger goes to
    DIR/ledger and every API source to 127.0.0.1:9 (nothing listens: it fails at once)."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    text = CONFIG.read_text()
    text, count = re.subn(r'^path = "/var/lib/carbonledger/ledger"',
                          f'path = "{target / "ledger"}"', text, flags=re.M)
    if count != 1:
        fail("no `path = \"/var/lib/carbonledger/ledger\"` line in [ledger]")
    api = ("aws-s3", "cost-explorer", "bigquery")
    text = re.sub(r'^(kind = "(' + "|".join(api) + r')")$',
                  r'\1\nendpoint_url = "http://127.0.0.1:9"', text, flags=re.M)
    (target / "carbonledger.toml").write_text(text)
    done("runnable", f"{target / 'carbonledger.toml'}")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "config":
        check_config()
    elif command == "drift":
        check_drift()
    elif command == "context":
        copy_context(sys.argv[2])
    elif command == "includes":
        check_includes(sys.argv[2])
    elif command == "runnable":
        write_runnable(sys.argv[2])
    elif command == "units":
        check_units()
    elif command == "manifests":
        check_manifests(sys.argv[2], overlay="--overlay" in sys.argv[3:])
    else:
        sys.exit(f"unknown check {command!r}")
