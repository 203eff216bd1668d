# A private repository: the GitHub token from Parameter Store reaches git as an HTTP header
# through GIT_CONFIG_* variables, appended after any the environment already sets, for this
# fetch only: never in a URL, a command's arguments or the log.
read -r basic < <(printf 'x-access-token:%s' "$DOCKHAND_GITHUB_TOKEN" | base64 -w0; echo)
n="${GIT_CONFIG_COUNT:-0}"
export GIT_CONFIG_COUNT="$((n + 1))" "GIT_CONFIG_KEY_$n=http.extraHeader" "GIT_CONFIG_VALUE_$n=AUTHORIZATION: basic $basic"
