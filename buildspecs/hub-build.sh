# Hub mode's BUILD phase, in Docker Hub's order: pre_build, build, post_build, the tests,
# pre_push, push. The image is loaded into the engine as $IMAGE_NAME (what hooks and
# Compose files name) and as its key tag, which dockhand pushes itself: the tags, re-tags
# and pinned dependents all start from it.
hub_hook pre_build
if hub_has_hook build; then
  hub_hook build
  if ! docker image inspect --format '{{.Id}}' "$IMAGE_NAME" > /dev/null; then
    echo "dockhand: hooks/build succeeded but built no $IMAGE_NAME: a build hook must tag its image \$IMAGE_NAME, as on Docker Hub"
    exit 1
  fi
  docker tag "$IMAGE_NAME" "$DOCKER_REPO:$DOCKHAND_KEY_TAG"
else
  "${build[@]}" --load --tag "$IMAGE_NAME" --tag "$DOCKER_REPO:$DOCKHAND_KEY_TAG" "./$BUILD_CONTEXT"
fi
hub_hook post_build
# The tests gate every push: a failing one ends the phase before anything is pushed.
hub_list_tests
if [ "${DOCKHAND_AUTOTEST:-1}" = 1 ] && { [ "${#hub_tests[@]}" -gt 0 ] || hub_has_hook test; }; then
  hub_hook pre_test
  if hub_has_hook test; then
    status=0
    hub_run test || status="$?"
    if [ "$status" != 0 ]; then
      echo "##dockhand test hooks/test failed $status"
      exit "$status"
    fi
    echo "##dockhand test hooks/test passed"
  else
    if docker compose version > /dev/null 2>&1; then
      compose=(docker compose)
    elif docker-compose version > /dev/null 2>&1; then
      compose=(docker-compose)
    else
      echo "dockhand: this build image has no Docker Compose (docker compose or docker-compose), which the autotests beside $DOCKERFILE_PATH need: choose a CodeBuild image that ships it"
      exit 1
    fi
    # One Compose project per build and file, so that nothing of one test is left to the next.
    project="dockhand-$(
      printf '%s' "${CODEBUILD_BUILD_ID:-$hub_state}" | sha256sum | cut -c1-12
    )"
    n=0
    for name in "${hub_tests[@]}"; do
      n="$((n + 1))"
      # The name, for the report line: a control character of a file name shown as `?`.
      shown="${name//[[:cntrl:]]/?}"
      hub_check_test "$name"
      run=("${compose[@]}" --project-name "$project-$n" --file "./$name")
      status=0
      (cd -- "$hub_dir" && DOCKERFILE_PATH="$hub_dockerfile" exec "${run[@]}" up --build \
        --abort-on-container-exit --exit-code-from sut sut < /dev/null) || status="$?"
      if [ "$status" = 0 ]; then
        echo "##dockhand test $shown passed"
      else
        echo "##dockhand test $shown failed $status"
        # The end of the sut's log, each line cut to 300 bytes.
        { (cd -- "$hub_dir" && DOCKERFILE_PATH="$hub_dockerfile" exec "${run[@]}" logs --no-color sut < /dev/null) || true; } 2>&1 |
          tail -n 20 | LC_ALL=C cut -b 1-300 | while IFS= read -r line; do printf '##dockhand sut %s\n' "$line"; done
      fi
      (cd -- "$hub_dir" && DOCKERFILE_PATH="$hub_dockerfile" exec "${run[@]}" down --volumes --remove-orphans < /dev/null) ||
        echo "dockhand: could not take the test project of $shown down"
      if [ "$status" != 0 ]; then exit "$status"; fi
    done
  fi
  hub_hook post_test
fi
hub_hook pre_push
if hub_has_hook push; then
  hub_hook push
  # The hook's pushes replace the tags dockhand would give (post_build).
  touch "$hub_state/pushed-by-hook"
fi
# The key tag, and the digest the registry gave it, from the line the Docker CLI prints:
# `TAG: digest: sha256:<64 hex> size: N`.
pushed="$(
  mktemp
)"
docker push "$DOCKER_REPO:$DOCKHAND_KEY_TAG" | tee "$pushed"
digest="$(
  sed -n 's/^[^ ]*: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*$/\1/p' "$pushed" | tail -n 1
)"
unread="docker push printed no digest for it"
