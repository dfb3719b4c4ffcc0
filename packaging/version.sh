#!/bin/sh
# Prints the package version of the checkout, valid for dpkg and rpm and
# rising with every commit:
#   tag v1.2.3 exactly, clean tree   1.2.3
#   commits after tag v1.2.3         1.2.3+git20260105101500.42.abc1234
#   no tag yet                       0.0.0~git20260105101500.42.abc1234
# A tree with uncommitted changes to tracked files appends ".dirty".
# The timestamp is the commit time (UTC), so newer commits sort higher in
# both dpkg and rpm; the commit count after it breaks ties between commits
# made in the same second; "~" sorts before the release it precedes in both.
set -eu
cd "$(dirname "$0")/.."
sha=$(git rev-parse --short=7 HEAD)
ts=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD)
count=$(git rev-list --count HEAD)
dirty=
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty=.dirty
if tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
	base=${tag#v}
	base=$(printf '%s' "$base" | tr -c 'A-Za-z0-9.+~\n' '.')
	if [ "$(git rev-list -n 1 "$tag")" = "$(git rev-parse HEAD)" ] && [ -z "$dirty" ]; then
		echo "$base"
	else
		echo "${base}+git${ts}.${count}.${sha}${dirty}"
	fi
else
	echo "0.0.0~git${ts}.${count}.${sha}${dirty}"
fi
