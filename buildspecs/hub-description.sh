# Docker Hub's full description from the pushed commit's README (DOCKHAND_DESCRIPTION_PATH,
# repository-relative), after the push, with the push token (`hub_description`). Each
# outcome prints exactly one `##dockhand description synced PATH` or `##dockhand
# description failed REASON` line, and none fails the build: the image is already pushed.
# In a subshell, so the token, the access token and any exit stay here; errexit does not
# apply inside it (it is tested by ||), so every step checks its own status.
(
  reported="" work=""
  report() {
    reported=1
    echo "##dockhand description $*"
  }
  fail() {
    report failed "$*"
    exit 0
  }
  trap '[ -z "$work" ] || rm -rf -- "$work"; [ -n "$reported" ] || echo "##dockhand description failed for a reason the lines above give"' EXIT
  path="${DOCKHAND_DESCRIPTION_PATH:-}" api="${DOCKHAND_HUB_API:-}" repository="${DOCKER_REPO#docker.io/}"
  # Hub's full_description holds at most 25,000 characters (of at most 4 bytes each):
  # https://docs.docker.com/reference/api/hub/latest/#tag/repositories/operation/CreateRepository
  limit=25000
  root="$(
    realpath -e -- "${CODEBUILD_SRC_DIR:-$PWD}/dockhand-source"
  )" || root=""
  if [ -z "$path" ] || [ -z "$api" ] || [ -z "$root" ]; then
    fail "the build has no DOCKHAND_DESCRIPTION_PATH, DOCKHAND_HUB_API or checkout"
  fi
  if [[ "$path" == *[[:cntrl:]]* ]]; then
    fail "the description path holds a control character"
  fi
  if [ -z "$repository" ] || [[ "$repository" == *[!a-z0-9._/-]* ]] || [[ "$repository" != */* ]] || [[ "$repository" == */*/* ]]; then
    fail "$DOCKER_REPO is not a Docker Hub repository (namespace/name)"
  fi
  file="$root/$path"
  if [ ! -e "$file" ] && [ ! -L "$file" ]; then
    fail "$path does not exist at $SOURCE_COMMIT; the description was left as it was"
  fi
  # As for the Dockerfile: a link could name a file outside the checkout, or a device.
  real="$(
    realpath -e -- "$file" || true
  )"
  if [ -L "$file" ] || [ ! -f "$file" ] || [ "$real" != "$file" ]; then
    fail "$path is a symbolic link, or not a regular file of the repository; not sending it"
  fi
  # --rawfile came with jq 1.6.
  if ! command -v curl >/dev/null || ! jq -n --rawfile text /dev/null 1 >/dev/null 2>&1; then
    fail "this build image has no curl, or no jq 1.6 or later; the description needs both"
  fi
  bytes="$(
    wc -c < "$file"
  )"
  if [ "$bytes" -gt "$((limit * 4))" ]; then
    fail "$path is $bytes bytes, more than Docker Hub's $limit characters; the description was left as it was"
  fi
  # jq reads text: what it sends must be the file's very bytes. --rawfile reads the file
  # whole (jq 1.6's -R splits a character across its 4 KiB reads).
  sent="$(
    jq -nj --rawfile text "$file" '$text' | sha256sum
  )"
  bytes_sum="$(
    sha256sum < "$file"
  )"
  if [ "$sent" != "$bytes_sum" ]; then
    fail "$path is not UTF-8 text; the description was left as it was"
  fi
  characters="$(
    jq -n --rawfile text "$file" '$text | length'
  )"
  if [ "$characters" -gt "$limit" ]; then
    fail "$path is $characters characters, more than Docker Hub's $limit; the description was left as it was"
  fi
  work="$(
    mktemp -d
  )" || fail "could not create a temporary directory"
  jq -n --rawfile text "$file" '{full_description: $text}' > "$work/body.json" || fail "could not read $path"
  token="$(
    aws ssm get-parameter --name "$DOCKHAND_TOKEN_PARAMETER" --with-decryption --query Parameter.Value --output text
  )" || fail "could not read the registry token from SSM"
  # A short-lived access token for the registry user and token, which go on stdin, never
  # as an argument:
  # https://docs.docker.com/reference/api/hub/latest/#tag/authentication-api/operation/AuthCreateAccessToken
  printf '%s' "$token" | jq -Rs --arg user "${DOCKHAND_REGISTRY_USER:-}" '{identifier: $user, secret: .}' |
    curl -sS --max-time 30 --retry 2 --retry-max-time 60 -o "$work/token.json" -w '%{http_code}' -X POST \
      -H 'Content-Type: application/json' --data-binary @- "$api/v2/auth/token" > "$work/status"
  unset token
  status="" access=""
  read -r status < "$work/status" || true
  if [ "$status" = 200 ]; then
    read -r access < <(jq -r '.access_token // empty' < "$work/token.json" 2>/dev/null) || true
  fi
  rm -f -- "$work/token.json"
  case "$status" in
    200) ;;
    000 | "") fail "could not reach Docker Hub at $api" ;;
    401) fail "Docker Hub refused the registry user and token (401): check registry.username and the token in SSM" ;;
    429) fail "Docker Hub's rate limit was reached (429); the next build tries again" ;;
    *) fail "Docker Hub's token endpoint answered HTTP $status" ;;
  esac
  if [ -z "$access" ] || [[ "$access" == *[!A-Za-z0-9._-]* ]]; then
    fail "Docker Hub answered without an access token"
  fi
  # The API reference documents no operation that edits a repository: this PATCH of the
  # repository's v2 path is what Docker Hub's own site sends, and tools such as
  # peter-evans/dockerhub-description. The header goes through curl's configuration on
  # stdin, never as an argument.
  printf 'header = "Authorization: Bearer %s"\n' "$access" |
    curl -sS --max-time 30 --retry 2 --retry-max-time 60 --config - -o /dev/null -w '%{http_code}' -X PATCH \
      -H 'Content-Type: application/json' --data-binary @"$work/body.json" \
      "$api/v2/repositories/$repository/" > "$work/status"
  unset access
  status=""
  read -r status < "$work/status" || true
  case "$status" in
    200) report synced "$path" ;;
    000 | "") fail "could not reach Docker Hub at $api" ;;
    400) fail "Docker Hub refused $path as the description of $repository (400)" ;;
    401) fail "Docker Hub refused its own access token (401)" ;;
    403) fail "the registry token may not edit $repository on Docker Hub (403): a personal access token needs the Read, Write, Delete permission" ;;
    404) fail "Docker Hub has no repository $repository (404)" ;;
    429) fail "Docker Hub's rate limit was reached (429); the next build tries again" ;;
    *) fail "Docker Hub answered HTTP $status when the description of $repository was sent" ;;
  esac
) || true
