#!/usr/bin/env bash
# The deploy verbs behind `make build|deploy|secret|destroy|outputs|logs|deliveries`.
#
# A one-way seam: `dockhand stack-parameters` decides, this script only does. Rust checks
# dockhand.json, the values make passes (FN, REPLAY, REPO, SINCE, REDELIVER), the environment
# (DOCKHAND_FILE, AWS_REGION...) and what the AWS CLI answered (the account, its region), and
# writes each value used here into a file of its own in $settings (crates/cli/src/deploy.rs,
# FILES): read with $(<file), or a list of one item per line read with mapfile. Values are
# only ever expanded inside double quotes or passed as array elements; nothing from
# dockhand.json or the command line is evaluated, parsed or defaulted here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# Where make runs it: a relative path (DOCKHAND_FILE too) is the repository's.
cd "$root"
template="$here/dockhand.yml"
# The functions `make build` compiles and packages, without dockhand.json and so without the
# CLI; everything else about them (keys, parameters, log groups) deploy.rs decides, and a test
# there holds its list equal to this one.
functions=(listener spawner notifier cleanup)
# Where `make build` leaves the zips (cargo's target directory, wherever it is), and the budget
# each must fit.
target="${CARGO_TARGET_DIR:-$root/target}"
zips="${DOCKHAND_ZIPS:-$target/lambda}"
max_zip_bytes=$((4 * 1024 * 1024))
settings="${DOCKHAND_SETTINGS_DIR:-$root/.work/deploy}"
dockhand="${DOCKHAND_CLI:-$target/debug/dockhand}"
# Where make installed cargo-lambda and zig; used for the build only, so the AWS CLI on the
# user's PATH stays the one they chose.
tools="${DOCKHAND_TOOLS:-$root/.venv/bin}"

# What `dockhand stack-parameters` is told, growing as the script learns more: the verb's
# values, then the account and the CLI's region, then the zips. Each call decides every file
# anew from all of it, and removes those it cannot decide yet.
told=(--out "$settings")
account=""
secret_file=""
trap 'rm -f "$secret_file"' EXIT

say() { printf '%s\n' "$*" >&2; }
die() {
    printf 'dockhand: %s\n' "$*" >&2
    exit 1
}

# ------------------------------------------------------------------ prerequisites, checked first
need_aws() {
    command -v aws >/dev/null ||
        die "the AWS CLI is not installed: see https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
}

# Once per run: the account and the AWS CLI's region, passed on to decide the region and the
# artifact bucket.
need_credentials() {
    [ -z "$account" ] || return 0
    need_aws
    account=$(aws sts get-caller-identity --query Account --output text 2>"$settings/sts.err") ||
        die "no usable AWS credentials ($(tr '\n' ' ' <"$settings/sts.err")): run 'aws configure' or 'aws sso login', or set AWS_PROFILE"
    decide --account "$account" --configured-region "$(aws configure get region || true)"
    bucket=$(<"$settings/artifact-bucket")
}

need_build_tools() {
    command -v cargo >/dev/null || die "cargo is not installed: install Rust from https://rustup.rs"
    cargo lambda --version >/dev/null 2>&1 ||
        die "cargo-lambda is not installed: 'make build' installs it into .venv, or run 'pip install cargo-lambda'"
    command -v zig >/dev/null || python3 -m ziglang version >/dev/null 2>&1 ||
        die "zig is not installed (cargo-lambda cross-compiles with it): 'make build' installs it into .venv, or run 'pip install ziglang'"
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        say "== adding the Rust target aarch64-unknown-linux-gnu (Lambda runs on arm64)"
        rustup target add aarch64-unknown-linux-gnu >&2 ||
            die "cannot add the Rust target: run 'rustup target add aarch64-unknown-linux-gnu'"
    fi
}

# Reads dockhand.json through the same checks the functions run, with the verb's own values
# (decide --logs "$FN"...), before any AWS call.
load_settings() {
    [ -x "$dockhand" ] || die "$dockhand is missing: run 'cargo build -p dockhand-cli' (make does this)"
    mkdir -p "$settings"
    decide "$@"
    stack=$(<"$settings/stack")
    secret_parameter=$(<"$settings/secret-parameter")
}

# Tells stack-parameters what was learned, and takes the region it decided for every aws call
# from here on (none yet, before the credentials, when nothing names one).
decide() {
    told+=("$@")
    "$dockhand" stack-parameters "${told[@]}"
    region=$(<"$settings/region")
    [ -z "$region" ] || export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"
}

stack_output() {
    aws cloudformation describe-stacks --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

# ------------------------------------------------------------------ verbs
# Each zip against the budget: a function's size is its cold start.
check_sizes() {
    local too_big=0
    for fn in "${functions[@]}"; do
        local zip="$zips/$fn/bootstrap.zip" size
        [ -f "$zip" ] || die "there is no $zip: run 'make build'"
        size=$(wc -c <"$zip")
        printf '   %-9s %8d bytes  %s\n' "$fn" "$size" "$zip" >&2
        if [ "$size" -gt "$max_zip_bytes" ]; then
            say "   $fn is over the budget of $max_zip_bytes bytes"
            too_big=1
        fi
    done
    [ "$too_big" = 0 ] || die "a zip is over its 4 MiB budget"
}

# In a subshell whose PATH starts with make's tools: cargo-lambda finds zig through python3.
build() { (
    if [ -n "${DOCKHAND_BINARIES:-}" ]; then
        package_binaries "$DOCKHAND_BINARIES"
        return
    fi
    export PATH="$tools:$PATH"
    need_build_tools
    local args=()
    # Only the four functions' packages: features are unified over the packages a build
    # selects, so the CLI's dependencies (the Lambda SDK, local mode) stay out of the zips.
    for fn in "${functions[@]}"; do args+=(--package "dockhand-$fn" --bin "$fn"); done
    say "== cargo lambda build --release --arm64 (a first build compiles the AWS SDK for arm64: several minutes)"
    (cd "$root" && cargo lambda build --release --arm64 --output-format zip --locked "${args[@]}")
    check_sizes
); }

# DOCKHAND_BINARIES=DIR: zip the functions already built in DIR instead of compiling them
# (the deploy smoke test packages the suite's debug builds). Lambda runs the functions on
# arm64, so other binaries are accepted only against a test endpoint (AWS_ENDPOINT_URL);
# the size budget belongs to the release build and is not checked here.
package_binaries() {
    local dir=$1 fn machine work
    command -v python3 >/dev/null || die "python3 is needed to zip the binaries in $dir"
    work=$(mktemp -d)
    for fn in "${functions[@]}"; do
        [ -x "$dir/$fn" ] || die "$dir/$fn is missing: build the functions first ('make cli')"
        # ELF e_machine, bytes 18-19: b7 00 is aarch64.
        machine=$(od -An -tx1 -j18 -N2 "$dir/$fn" | tr -d ' \n')
        if [ "$machine" != b700 ] && [ -z "${AWS_ENDPOINT_URL:-}" ]; then
            rm -rf "$work"
            die "$dir/$fn is not an arm64 Linux binary, and Lambda runs the functions on arm64: run 'make build' (or unset DOCKHAND_BINARIES)"
        fi
        mkdir -p "$work/$fn" "$zips/$fn"
        # Without symbols: the zip is what a deploy uploads and moto unpacks.
        strip -o "$work/$fn/bootstrap" "$dir/$fn" 2>/dev/null || cp "$dir/$fn" "$work/$fn/bootstrap"
        # A fixed date and mode: the same binary makes the same zip, so its key does not change.
        python3 -c 'import sys, zipfile
entry = zipfile.ZipInfo("bootstrap", (1980, 1, 1, 0, 0, 0))
entry.external_attr = 0o100755 << 16
entry.compress_type = zipfile.ZIP_DEFLATED
with zipfile.ZipFile(sys.argv[1], "w") as z, open(sys.argv[2], "rb") as f:
    z.writestr(entry, f.read())' "$zips/$fn/bootstrap.zip" "$work/$fn/bootstrap"
        printf '   %-9s %8d bytes  %s (packaged from %s)\n' "$fn" "$(wc -c <"$zips/$fn/bootstrap.zip")" \
            "$zips/$fn/bootstrap.zip" "$dir/$fn" >&2
    done
    rm -rf "$work"
}

ensure_bucket() {
    if aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
        return
    fi
    local create
    mapfile -t create <"$settings/create-bucket"
    say "== creating the artifact bucket s3://$bucket"
    aws s3api create-bucket "${create[@]}" >/dev/null
    aws s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
        BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
    aws s3api put-bucket-encryption --bucket "$bucket" --server-side-encryption-configuration \
        '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
}

# Uploads each zip under the key stack-parameters named by its SHA-256, unless it is there
# already: an unchanged function is not updated.
upload() {
    local files keys i
    mapfile -t files <"$settings/upload-files"
    mapfile -t keys <"$settings/upload-keys"
    for i in "${!keys[@]}"; do
        if ! aws s3api head-object --bucket "$bucket" --key "${keys[i]}" >/dev/null 2>&1; then
            say "   uploading ${files[i]} to s3://$bucket/${keys[i]}"
            aws s3api put-object --bucket "$bucket" --key "${keys[i]}" --body "${files[i]}" >/dev/null
        fi
    done
}

secret() {
    need_credentials
    local mode=$1 current="" fresh tmp
    tmp=$(mktemp) # mode 600; removed on exit, whatever happens
    secret_file=$tmp
    if aws ssm get-parameter --name "$secret_parameter" --with-decryption \
        --query Parameter.Value --output text >"$tmp" 2>/dev/null; then
        current=$(<"$tmp")
    fi
    fresh=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    case "$mode" in
    create)
        if [ -n "$current" ]; then
            say "== the webhook secret $secret_parameter exists; left as it is ('make secret ROTATE=1' adds a new one)"
            return
        fi
        printf '%s' "$fresh" >"$tmp"
        ;;
    rotate)
        [ -n "$current" ] || die "there is no secret $secret_parameter to rotate: run 'make secret'"
        # The new secret first; the old ones stay valid until 'make secret RETIRE=1'.
        printf '%s\n%s' "$fresh" "$current" >"$tmp"
        ;;
    retire)
        [ -n "$current" ] || die "there is no secret $secret_parameter"
        head -n1 <<<"$current" | tr -d '\n' >"$tmp"
        [ "$(wc -l <<<"$current")" -gt 1 ] || {
            say "== $secret_parameter holds one secret; nothing to retire"
            return
        }
        ;;
    *) die "unknown secret mode $mode" ;;
    esac
    aws ssm put-parameter --name "$secret_parameter" --type SecureString --overwrite \
        --description "dockhand webhook secret(s), newest first" --value "file://$tmp" >/dev/null
    case "$mode" in
    create | rotate)
        say "== stored a new webhook secret in $secret_parameter ($mode)"
        if [ -t 1 ]; then
            say "   Paste it into GitHub (Settings -> Webhooks -> Secret):"
            head -n1 "$tmp"
            printf '\n'
        else
            say "   Read it with: aws ssm get-parameter --name $secret_parameter --with-decryption --query Parameter.Value --output text | head -n1"
        fi
        [ "$mode" = create ] || say "   The old secret stays valid: once GitHub has the new one, run 'make secret RETIRE=1'."
        ;;
    retire) say "== $secret_parameter now holds only its newest secret" ;;
    esac
}

# Stores a token in an SSM SecureString, read without echo, through a file only this user can
# read: store_token PARAMETER-NAME WHAT WHERE-TO-CREATE-ONE
store_token() {
    local name=$1 what=$2 hint=$3 tmp token
    if [ -t 0 ]; then
        read -rsp "$what for $name (input hidden): " token
        printf '\n' >&2
    else
        IFS= read -r token || true
    fi
    [ -n "$token" ] || die "no token given: create one at $hint"
    tmp=$(mktemp)
    secret_file=$tmp
    printf '%s' "$token" >"$tmp"
    aws ssm put-parameter --name "$name" --type SecureString --overwrite \
        --description "dockhand: $what" --value "file://$tmp" >/dev/null
    say "== stored the $what in $name"
}

registry_token() {
    need_credentials
    local name
    name=$(<"$settings/registry-token-parameter")
    [ -n "$name" ] || die "this deployment pushes to ECR, which needs no token: builds log in with their own role"
    store_token "$name" "Docker Hub access token" "https://app.docker.com/settings/personal-access-tokens (Read & Write)"
}

github_token() {
    need_credentials
    local name
    name=$(<"$settings/github-token-parameter")
    [ -n "$name" ] || die "set \"github_token_parameter\" in dockhand.json's config first (e.g. \"/dockhand/github-token\"); public repositories need no token"
    store_token "$name" "GitHub token" "https://github.com/settings/personal-access-tokens (fine-grained, the repositories you build, Contents: read-only)"
}

deploy() {
    need_credentials
    build
    decide --zips "$zips"
    secret create
    ensure_bucket
    upload
    local parameters tags
    mapfile -t parameters <"$settings/parameters"
    mapfile -t tags <"$settings/tags"
    say "== aws cloudformation deploy --stack-name $stack (region $region)"
    # The template goes through the bucket too, under the stack's prefix (so destroy removes
    # it): CloudFormation takes at most 51,200 bytes of template in a request, 1 MB from S3
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
    aws cloudformation deploy --stack-name "$stack" --template-file "$template" \
        --s3-bucket "$bucket" --s3-prefix "$(<"$settings/artifact-prefix")" \
        --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
        --tags "${tags[@]}" --parameter-overrides "${parameters[@]}" >&2
    outputs
}

outputs() {
    need_credentials
    local url
    aws cloudformation describe-stacks --stack-name "$stack" \
        --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text |
        while IFS=$'\t' read -r key value; do printf '%-24s %s\n' "$key" "$value"; done
    url=$(stack_output WebhookUrl)
    cat <<EOF

Add the webhook in GitHub: the repository's Settings -> Webhooks -> Add webhook
  Payload URL   $url
  Content type  application/json
  Secret        the first line of $secret_parameter:
                aws ssm get-parameter --name $secret_parameter --with-decryption --query Parameter.Value --output text | head -n1
  Events        Just the push event
EOF
}

destroy() {
    need_credentials
    local prefix
    prefix=$(<"$settings/artifact-prefix")
    say "== deleting the stack $stack (region $region)"
    aws cloudformation delete-stack --stack-name "$stack"
    aws cloudformation wait stack-delete-complete --stack-name "$stack"
    if aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
        local keys
        keys=$(aws s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix/" --query 'Contents[].Key' --output text)
        for key in $keys; do
            [ "$key" = None ] || aws s3api delete-object --bucket "$bucket" --key "$key" >/dev/null
        done
        say "== removed the stack's zips from s3://$bucket/$prefix/"
    fi
    say "== kept: the webhook secret $secret_parameter, the registry token, and the bucket s3://$bucket"
    say "   (aws ssm delete-parameter --name $secret_parameter; aws s3 rb s3://$bucket)"
}

# The log group of `make logs FN=...`, which stack-parameters chose (decide --logs).
logs() {
    need_credentials
    local group
    group=$(<"$settings/log-group")
    if aws logs tail help >/dev/null 2>&1; then
        aws logs tail "$group" --since 1h --follow
    else # AWS CLI v1 has no 'logs tail'
        aws logs filter-log-events --log-group-name "$group" \
            --start-time "$((($(date +%s) - 3600) * 1000))" --query 'events[].message' --output text
    fi
}

# `make dead-letters [REPLAY=1]`: the dead-letter queue, one line per record; with replay,
# each record sent back where it came from (the dockhand CLI, with the caller's credentials).
# The command is the one stack-parameters wrote (decide --replay).
dead_letters() {
    need_credentials
    local args
    mapfile -t args <"$settings/dead-letters-args"
    "$dockhand" "${args[@]}"
}

# The failed deliveries of REPO's webhook to this stack (`dockhand deliveries`), and with
# REDELIVER=1 each redelivered once: the command stack-parameters wrote (decide --repo ...),
# given the stack's webhook URL. Every value is passed as one argument, never evaluated.
deliveries() {
    local url args
    need_credentials
    url=$(stack_output WebhookUrl) || die "cannot read the stack $stack's outputs (make outputs says why)"
    [ -n "$url" ] && [ "$url" != None ] || die "the stack $stack has no WebhookUrl output: run 'make deploy' first"
    mapfile -t args <"$settings/deliveries-args"
    "$dockhand" "${args[@]}" --webhook-url "$url"
}

verb=${1:-}
shift || true
case "$verb" in
build) build ;;
sizes) check_sizes ;;
deploy)
    load_settings
    deploy
    ;;
secret)
    load_settings
    secret "${1-}"
    ;;
registry-token)
    load_settings
    registry_token
    ;;
github-token)
    load_settings
    github_token
    ;;
outputs)
    load_settings
    outputs
    ;;
dead-letters)
    load_settings --replay "${1-}"
    dead_letters
    ;;
destroy)
    load_settings
    destroy
    ;;
logs)
    load_settings --logs "${1-}"
    logs
    ;;
deliveries)
    load_settings --repo "${1-}" --since "${2-}" --redeliver "${3-}"
    deliveries
    ;;
*) die "usage: cfn/deploy.sh build|sizes|deploy|secret [create|rotate|retire]|registry-token|github-token|outputs|dead-letters [REPLAY]|destroy|logs FN|deliveries REPO [SINCE] [REDELIVER]" ;;
esac
