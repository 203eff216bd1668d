# A private repository: the GitHub token is read here, inside the subshell of one git
# command, and nowhere else: it is never in the build's environment, so no other phase,
# tool or Dockerfile can read it. git gets it as an HTTP header for the deployment's Git
# host only (http.<url>.extraHeader), through GIT_CONFIG_* variables appended after any
# the environment sets: never in a URL, an argument or the log.
token="$(
  aws ssm get-parameter --name "$DOCKHAND_GITHUB_TOKEN_PARAMETER" --with-decryption --query Parameter.Value --output text
)"
read -r basic < <(printf 'x-access-token:%s' "$token" | base64 -w0; echo)
unset token
n="${GIT_CONFIG_COUNT:-0}"
export GIT_CONFIG_COUNT="$((n + 1))" "GIT_CONFIG_KEY_$n=http.https://$DOCKHAND_GIT_HOST/.extraHeader" "GIT_CONFIG_VALUE_$n=AUTHORIZATION: basic $basic"
unset basic
