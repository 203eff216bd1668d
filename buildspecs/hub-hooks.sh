# Docker Hub's hooks (hooks/NAME beside the Dockerfile), defined in every phase that runs
# one. A hook runs as Docker Hub ran it: `bash -- hooks/NAME` from the Dockerfile's
# directory, with the build's environment but DOCKERFILE_PATH, which is the Dockerfile's
# path from that directory. Its name is one of Hub's; no path of the repository is ever
# shell text. Outside the checkout: no file of the repository can pose as hub_state's.
hub_state="${CODEBUILD_SRC_DIR:-$PWD}/dockhand-hub"
hub_dir="${CODEBUILD_SRC_DIR:-$PWD}/dockhand-source"
case "$DOCKERFILE_PATH" in
  */*) hub_dir="$hub_dir/${DOCKERFILE_PATH%/*}" ;;
esac
hub_dockerfile="${DOCKERFILE_PATH##*/}"
# True when the repository has hooks/$1; a hook that is a symbolic link or not a regular
# file (it could name a file of the build host) stops the build.
hub_has_hook() {
  local file="$hub_dir/hooks/$1"
  if [ ! -e "$file" ] && [ ! -L "$file" ]; then return 1; fi
  if [ -L "$hub_dir/hooks" ] || [ -L "$file" ] || [ ! -f "$file" ]; then
    echo "dockhand: refusing to run hooks/$1: it or hooks/ is a symbolic link, or it is not a regular file; a hook must be a regular file of the repository in hooks/ beside the Dockerfile"
    exit 1
  fi
}
# Runs hooks/$1 and answers its exit status.
hub_run() {
  (cd -- "$hub_dir" && DOCKERFILE_PATH="$hub_dockerfile" exec bash -- "hooks/$1" < /dev/null)
}
# Runs hooks/$1 if there is one, and says how it went; a failing hook ends the phase.
hub_hook() {
  local status=0
  if ! hub_has_hook "$1"; then return 0; fi
  echo "dockhand: running hooks/$1"
  hub_run "$1" || status="$?"
  if [ "$status" != 0 ]; then
    echo "##dockhand hook $1 failed $status"
    exit "$status"
  fi
  echo "##dockhand hook $1 ok"
}
# Stops the build at an autotest file that is a symbolic link or not a regular file.
hub_check_test() {
  if [ -L "$hub_dir/$1" ] || [ ! -f "$hub_dir/$1" ]; then
    echo "dockhand: refusing to run the autotest ${1//[[:cntrl:]]/?}: it is a symbolic link or not a regular file; a test file must be a regular file of the repository beside the Dockerfile"
    exit 1
  fi
}
# The autotest files beside the Dockerfile (docker-compose.test.yml, any *.test.yml) in
# name order, bytewise: hub_tests.
hub_list_tests() {
  local name
  hub_tests=()
  while IFS= read -r -d '' name; do
    hub_tests+=("$name")
  done < <(
    cd -- "$hub_dir" && LC_ALL=C && shopt -s nullglob && for name in *.test.yml; do printf '%s\0' "$name"; done
  )
}
