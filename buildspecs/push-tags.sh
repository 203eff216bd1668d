# Gives "$source_image" (already in the registry) the tags of DOCKHAND_TAGS, copying its
# manifest registry-side: every tag names the very digest the build pushed. Tags that
# move with the ref (latest, a branch's name) are given only while the ref still points
# at this commit, asked of the repository now: a build that ran late (a queue, a replay, a
# slower build of an older push) never moves them back.
head="" unknown=0
if [ -n "${DOCKHAND_MOVING_TAGS:-}" ]; then
  {{ref_head}}
fi
# A single source is copied as it is (no index wrapped around it), where buildx can be told.
copy=()
if docker buildx imagetools create --help 2>&1 | grep -q -- --prefer-index; then copy+=(--prefer-index=false); fi
IFS=, read -ra tags <<< "$DOCKHAND_TAGS"
IFS=, read -ra moving <<< "${DOCKHAND_MOVING_TAGS:-}"
for tag in "${tags[@]}"; do
  for m in "${moving[@]}"; do
    if [ "$tag" = "$m" ] && [ "$head" != "$SOURCE_COMMIT" ]; then
      echo "dockhand: not moving $DOCKER_REPO:$tag: $DOCKHAND_REF points at ${head:-nothing this build can see} now, not $SOURCE_COMMIT"
      continue 2
    fi
  done
  docker buildx imagetools create "${copy[@]}" --tag "$DOCKER_REPO:$tag" "$source_image"
done
if [ "$unknown" = 1 ]; then
  echo "dockhand: could not ask $SOURCE_REPO_URL where $DOCKHAND_REF points; its moving tags were not pushed"
  exit 1
fi
