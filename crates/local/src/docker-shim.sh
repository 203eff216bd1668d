#!/bin/bash
# Local mode's `docker`: podman, with the docker commands dockhand's buildspecs run
# translated to what podman, skopeo and podman-compose do on a machine without a Docker
# engine.
#
#   docker buildx build ... --output type=image,name=N,push=true   podman build, then push N
#     --platform a,b                  one manifest list (podman build --manifest per platform),
#                                     pushed --all
#     --cache-from/--cache-to type=registry,ref=R
#                                     buildah's registry layer cache in the repository R/<tag>
#                                     (buildah keeps one tag per cached step, so the tag becomes
#                                     a path component); ignore-error=true is honoured: a cache
#                                     that cannot be written is a warning, as BuildKit makes it
#     --build-context NAME=docker-image://REF
#                                     podman build --build-context, which replaces a FROM
#                                     whose text as written is NAME by REF; and REF pulled
#                                     and tagged NAME in the build's store first, so that a
#                                     FROM that becomes NAME only after ARG expansion (which
#                                     BuildKit matches, podman 4.3 does not) finds it there
#                                     instead of pulling NAME; both through the same
#                                     registries.conf (plain HTTP locally)
#     --metadata-file F               after the push, F holds {"containerimage.digest": D}, D
#                                     the digest of the manifest (or manifest list) pushed
#                                     under the --output name, from podman's --digestfile
#   docker buildx build ... --load --tag A --tag B CONTEXT
#                                     the same build (Hub mode), into the build's store under
#                                     A and B, nothing pushed; one platform, as buildx's
#                                     docker exporter cannot load a manifest list
#   docker buildx imagetools create --tag T... SRC                 skopeo copy --all
#                                     --preserve-digests: T names SRC's very manifest, as
#                                     buildx's carbon copy (--prefer-index=false) does
#   docker buildx version|create      answered here: podman has no builder instances
#   docker image inspect --format '{{.Id}}' REF
#                                     podman's image id as Docker spells it (sha256:…); the
#                                     exit status says whether REF is in the build's store
#   docker push REF                   podman push, then the Docker CLI's last line
#                                     `TAG: digest: sha256:… size: N`: the digest podman's
#                                     --digestfile gives, N the bytes of that manifest
#   docker compose …                  podman-compose, its podman this script (the build's
#                                     store); with DNS between services when the CNI dnsname
#                                     plugin is installed, runc, and the limits the engine's
#                                     containers.conf sets
#     up --build …                    every service with a build section built first:
#                                     podman-compose builds only the services named, not the
#                                     ones they depend on; its output without colours
#     logs [--no-color] SERVICE...    each container's output, stdout and stderr, as Docker
#                                     Compose v2 prints it: `SERVICE-N  | LINE`
#     version                         Docker Compose's first line, naming podman-compose
#   anything else                     podman itself (docker tag, run, ...)
#
# Every build gets an empty image store under its CODEBUILD_SRC_DIR, removed with it: a
# CodeBuild host is fresh for every build, so no layer survives but the registry's.
# Arguments are only ever passed on as array elements, never evaluated.
set -euo pipefail

store=()
if [ -n "${CODEBUILD_SRC_DIR:-}" ]; then
  # podman refuses a runroot longer than 50 characters: a short one per build, under /tmp.
  build_id="$(
    printf '%s' "$CODEBUILD_SRC_DIR" | sha256sum | cut -c1-16
  )"
  store=(--root "$CODEBUILD_SRC_DIR/.dockhand-podman" --runroot "/tmp/dockhand-podman-$build_id")
fi

# podman-compose's podman (see compose below): podman itself, in the build's store.
if [ -n "${DOCKHAND_SHIM_AS_PODMAN:-}" ]; then exec podman "${store[@]}" "$@"; fi

fail() {
  echo "docker (local mode's podman stand-in): $*" >&2
  exit 2
}

# The ref of a `type=registry,ref=R[,…]` cache option, as buildah's cache repository.
cache_repository() {
  local option ref="" type=""
  IFS=, read -ra options <<< "$1"
  for option in "${options[@]}"; do
    case "$option" in
      type=*) type="${option#type=}" ;;
      ref=*) ref="${option#ref=}" ;;
    esac
  done
  [ "$type" = registry ] && [ -n "$ref" ] || fail "only type=registry,ref=… caches are emulated, not $1"
  local last="${ref##*/}"
  case "$last" in
    *:*) printf '%s/%s\n' "${ref%:*}" "${last##*:}" ;;
    *) printf '%s\n' "$ref" ;;
  esac
}

buildx_build() {
  local platforms="" cache_from="" cache_to="" ignore_cache_error=0 name="" push=0 load=0 context="" metadata_file=""
  local pass=() metadata=() pins=() tags=() option
  while [ $# -gt 0 ]; do
    case "$1" in
      --builder | --progress | --provenance | --sbom) shift 2 ;;
      --builder=* | --progress=* | --provenance=* | --sbom=*) shift ;;
      --platform) platforms="$2"; shift 2 ;;
      --cache-from) cache_from="$(cache_repository "$2")"; shift 2 ;;
      --cache-to)
        cache_to="$(cache_repository "$2")"
        case ",$2," in *,ignore-error=true,*) ignore_cache_error=1 ;; esac
        shift 2
        ;;
      --output)
        IFS=, read -ra options <<< "$2"
        for option in "${options[@]}"; do
          case "$option" in
            type=image | type=registry) ;;
            type=*) fail "only --output type=image is emulated, not $2" ;;
            name=*) name="${option#name=}" ;;
            push=true) push=1 ;;
          esac
        done
        shift 2
        ;;
      # podman takes an annotation without buildx's `manifest:` level.
      --annotation) metadata+=(--annotation "${2#manifest:}"); shift 2 ;;
      --label) metadata+=("$1" "$2"); shift 2 ;;
      --file | --build-arg) pass+=("$1" "$2"); shift 2 ;;
      --build-context)
        case "$2" in
          *=docker-image://?*) pass+=("$1" "$2") pins+=("$2") ;;
          *) fail "only --build-context NAME=docker-image://REF is emulated" ;;
        esac
        shift 2
        ;;
      --metadata-file) metadata_file="$2"; shift 2 ;;
      --load) load=1; shift ;;
      --tag | -t) tags+=(--tag "$2"); shift 2 ;;
      -*) fail "docker buildx build $1 is not emulated" ;;
      *) context="$1"; shift ;;
    esac
  done
  [ -n "$context" ] || fail "docker buildx build needs a context"
  if [ "$load" = 1 ]; then
    [ -z "$name" ] && [ -z "$metadata_file" ] || fail "--load is emulated alone, without --output or --metadata-file"
    [ "${#tags[@]}" -gt 0 ] || fail "docker buildx build --load needs a --tag"
    case "$platforms" in
      *,*) fail "--load takes one platform, not $platforms: buildx's docker exporter cannot load a manifest list" ;;
    esac
    # The image's name in the build's store: its first tag.
    name="${tags[1]}"
  else
    [ -n "$name" ] && [ "${#tags[@]}" = 0 ] || fail "docker buildx build needs --output type=image,name=… or --load --tag …"
    tags=(--tag "$name")
  fi
  [ -z "$metadata_file" ] || [ "$push" = 1 ] || fail "--metadata-file is emulated for a pushed image only"
  # What podman's --digestfile gets: the digest of what was pushed under $name.
  local digest_file=()
  if [ -n "$metadata_file" ]; then digest_file=(--digestfile "$(mktemp)"); fi
  # Each pinned base, in the store under the name its FROM gives (a name with a digest
  # cannot be a tag, and only ever matches as written).
  local pin ref
  for pin in "${pins[@]}"; do
    ref="${pin#*=docker-image://}"
    podman "${store[@]}" pull --quiet "$ref" >/dev/null
    case "${pin%%=*}" in
      *@*) ;;
      *)
        podman "${store[@]}" tag "$ref" "${pin%%=*}"
        echo "local mode: the base ${pin%%=*} is $ref"
        ;;
    esac
  done
  local args=(build --layers --format oci "${pass[@]}")
  case "$platforms" in
    *,*)
      # One build per platform into one manifest list. podman 4.3 reuses a layer built for
      # one platform for the next (FROM scratch has no platform to tell them apart), so each
      # is built afresh, and without the registry cache: a stand-in limit, said here.
      echo "local mode: building $platforms one at a time, without the layer cache"
      local platform
      IFS=, read -ra each <<< "$platforms"
      for platform in "${each[@]}"; do
        podman "${store[@]}" build --no-cache --format oci "${pass[@]}" "${metadata[@]}" --platform "$platform" --manifest "$name" "$context"
      done
      if [ "$push" = 1 ]; then podman "${store[@]}" manifest push --all "${digest_file[@]}" "$name" "docker://$name"; fi
      write_metadata
      return 0
      ;;
    ?*) args+=(--platform "$platforms") ;;
  esac
  # The build, then the labels and annotations in a step of their own: BuildKit writes them
  # into the image's configuration, where buildah would make each one a cached step that
  # changes with every commit (and pushes each to the cache).
  local built
  built="$(mktemp)"
  args+=(--iidfile "$built")
  local cache=()
  if [ -n "$cache_from" ]; then cache+=(--cache-from "$cache_from"); fi
  if [ -n "$cache_to" ]; then cache+=(--cache-to "$cache_to"); fi
  local log status
  log="$(mktemp)"
  set +e
  podman "${store[@]}" "${args[@]}" "${cache[@]}" "$context" 2>&1 | tee "$log"
  status="${PIPESTATUS[0]}"
  set -e
  if [ "$status" != 0 ] && [ "$ignore_cache_error" = 1 ] && grep -q 'failed pushing cache to' "$log"; then
    echo "WARNING: the layer cache could not be written to $cache_to; building on without writing it (ignore-error=true)"
    cache=()
    if [ -n "$cache_from" ]; then cache+=(--cache-from "$cache_from"); fi
    podman "${store[@]}" "${args[@]}" "${cache[@]}" "$context"
    status=0
  fi
  rm -f "$log"
  [ "$status" = 0 ] || exit "$status"
  local empty
  empty="$(mktemp -d)"
  printf 'FROM %s\n' "$(cat "$built")" > "$empty/Dockerfile"
  podman "${store[@]}" build --quiet --layers=false --pull=never --format oci "${metadata[@]}" "${tags[@]}" "$empty"
  rm -rf "$built" "$empty"
  if [ "$push" = 1 ]; then podman "${store[@]}" push "${digest_file[@]}" "$name"; fi
  write_metadata
}

# buildx's metadata file, with the one key dockhand reads: containerimage.digest, the
# digest podman's --digestfile holds (`sha256:…`, no newline).
write_metadata() {
  [ -n "$metadata_file" ] || return 0
  local digest
  digest="$(cat "${digest_file[1]}")"
  rm -f "${digest_file[1]}"
  case "$digest" in
    sha256:*) ;;
    *) fail "podman wrote no digest for $name" ;;
  esac
  printf '{\n  "containerimage.digest": "%s"\n}\n' "$digest" > "$metadata_file"
}

imagetools_create() {
  local tags=() source=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --help)
        echo "Usage: docker buildx imagetools create [OPTIONS] [SOURCE...]"
        echo "      --prefer-index   (local mode: every single source is copied as it is)"
        return 0
        ;;
      --prefer-index=false) shift ;;
      --tag | -t) tags+=("$2"); shift 2 ;;
      -*) fail "docker buildx imagetools create $1 is not emulated" ;;
      *)
        [ -z "$source" ] || fail "local mode copies one source image, not several"
        source="$1"
        shift
        ;;
    esac
  done
  [ -n "$source" ] && [ "${#tags[@]}" -gt 0 ] || fail "docker buildx imagetools create needs --tag and a source"
  local tag
  for tag in "${tags[@]}"; do
    skopeo_ copy --quiet --all --preserve-digests -- "docker://$source" "docker://$tag"
  done
}

# skopeo reads the registries' configuration (plain HTTP for the local registry) only when
# told where it is.
skopeo_() {
  local config=()
  if [ -n "${CONTAINERS_REGISTRIES_CONF:-}" ]; then config=(--registries-conf "$CONTAINERS_REGISTRIES_CONF"); fi
  skopeo "${config[@]}" "$@"
}

# Docker's id is the configuration's digest with its algorithm; podman prints the hex alone.
image_inspect() {
  case "${1:-} ${2:-}" in
    "--format {{.Id}}" | "-f {{.Id}}")
      shift 2
      podman "${store[@]}" image inspect --format '{{.Id}}' "$@" | sed 's/^/sha256:/'
      ;;
    *) exec podman "${store[@]}" image inspect "$@" ;;
  esac
}

push() {
  [ $# = 1 ] && [ "${1#-}" = "$1" ] || fail "docker push is emulated for one image and no options, not: $*"
  local ref="$1" repository tag digest digest_file
  # REPO[:TAG]; a `:` before the last `/` is a registry's port.
  repository="$ref" tag=latest
  case "${ref##*/}" in
    *:*) repository="${ref%:*}" tag="${ref##*:}" ;;
  esac
  digest_file="$(mktemp)"
  podman "${store[@]}" push --digestfile "$digest_file" "$ref"
  digest="$(cat "$digest_file")"
  rm -f "$digest_file"
  case "$digest" in
    sha256:*) ;;
    *) fail "podman wrote no digest for $ref" ;;
  esac
  local size
  size="$(skopeo_ inspect --raw "docker://$repository@$digest" | wc -c)"
  echo "$tag: digest: $digest size: $size"
}

# Compose: podman-compose with this script as its podman, so that every container, image,
# network and volume of the project is in the build's store.
compose() {
  command -v podman-compose >/dev/null ||
    fail "docker compose: podman-compose, local mode's Compose, is not installed: 'make demo' and 'make deps' install it into .venv"
  local global=() project="" arg
  while [ $# -gt 0 ]; do
    case "$1" in
      --project-name | -p) global+=("$1" "$2") project="$2"; shift 2 ;;
      --file | -f) global+=("$1" "$2"); shift 2 ;;
      -*) fail "docker compose $1 is not emulated" ;;
      *) break ;;
    esac
  done
  local command="${1:-}"
  shift || true
  local self
  self="$(readlink -f -- "$0")"
  local podman_compose=(podman-compose --podman-path "$self" "${global[@]}")
  export DOCKHAND_SHIM_AS_PODMAN=1
  case "$command" in
    version)
      echo "Docker Compose version (local mode: $(podman-compose --version | head -n 1))"
      ;;
    up)
      local rest=() build=0 arg
      for arg in "$@"; do
        if [ "$arg" = --build ]; then build=1; else rest+=("$arg"); fi
      done
      if [ "$build" = 1 ]; then "${podman_compose[@]}" build; fi
      # podman-compose colours each service's output whatever it writes to; Docker Compose
      # does not when it writes to a build log.
      set +e
      "${podman_compose[@]}" up "${rest[@]}" | sed -u 's/\x1b\[[0-9;]*m//g'
      exit "${PIPESTATUS[0]}"
      ;;
    logs)
      [ -n "$project" ] || fail "docker compose logs is emulated with --project-name only"
      local services=() service container
      for arg in "$@"; do
        case "$arg" in
          --no-color) ;;
          -*) fail "docker compose logs $arg is not emulated" ;;
          *) services+=("$arg") ;;
        esac
      done
      for service in "${services[@]}"; do
        # podman-compose names a service's containers PROJECT_SERVICE_N.
        podman "${store[@]}" ps --all --format '{{.Names}}' \
          --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service" |
          while IFS= read -r container; do
            podman "${store[@]}" logs "$container" 2>&1 | prefix "$service-${container##*_}  | "
          done
      done
      ;;
    *) exec "${podman_compose[@]}" "$command" "$@" ;;
  esac
}

# Each line of stdin after $1, as Docker Compose prints a container's output.
prefix() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s%s\n' "$1" "$line"
  done
}

case "${1:-} ${2:-}" in
  "buildx version") echo "github.com/docker/buildx (local mode: $(podman --version), skopeo)" ;;
  "buildx create") ;;
  "buildx build") shift 2; buildx_build "$@" ;;
  "buildx imagetools")
    [ "${3:-}" = create ] || fail "docker buildx imagetools ${3:-} is not emulated"
    shift 3
    imagetools_create "$@"
    ;;
  "buildx "*) fail "docker buildx ${2:-} is not emulated" ;;
  "image inspect") shift 2; image_inspect "$@" ;;
  "push "*) shift; push "$@" ;;
  "compose "*) shift; compose "$@" ;;
  *) exec podman "${store[@]}" "$@" ;;
esac
