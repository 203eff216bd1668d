# Where DOCKHAND_REF points now, asked of the repository: sets head (empty when the ref is
# gone) and unknown=1 when the repository could not be asked. awk reads the ref from its
# environment: a value is never program text. An annotated tag's commit is its peeled
# line, which only an explicit pattern lists.
head="" unknown=0
if ! head="$(
  {{clone_auth}}
  git ls-remote -- "$SOURCE_REPO_URL" "$DOCKHAND_REF" "$DOCKHAND_REF^{}" |
    awk -F'\t' '$2 == ENVIRON["DOCKHAND_REF"] { p = $1 } $2 == ENVIRON["DOCKHAND_REF"] "^{}" { q = $1 } END { print (q != "" ? q : p) }'
)"; then
  unknown=1 head=""
fi
