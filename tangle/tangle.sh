#!/bin/sh
# tangle/tangle.sh -- tangle org files with Emacs org-babel in batch mode.
#
# Usage: tangle/tangle.sh FILE.org...
# Each file is tangled from its own directory, so relative :tangle targets land beside it.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 FILE.org..." >&2; exit 2; }
command -v emacs >/dev/null 2>&1 || { echo "tangle.sh: emacs not found (apt-get install emacs-nox)" >&2; exit 1; }
for org in "$@"; do
  [ -f "$org" ] || { echo "tangle.sh: $org: no such file" >&2; exit 1; }
  dir=$(dirname "$org")
  base=$(basename "$org")
  (cd "$dir" && emacs --batch -Q --eval "(require 'org)" \
                      --eval "(org-babel-tangle-file \"$base\")")
done
