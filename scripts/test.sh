#!/bin/sh
# Run every test (npm test). uvu reports a failure where it happens, among ~700 tests and
# their output; a log kept only by its tail would not show it. So the failed tests are
# named again at the end, each after its file. Exit status: uvu's.
set -u
log=$(mktemp "${TMPDIR:-/tmp}/pc-test.XXXXXX")
rc=$(mktemp "${TMPDIR:-/tmp}/pc-test-rc.XXXXXX")
trap 'rm -f "$log" "$rc"' EXIT
{ uvu dist/test '\.test\.js$' "$@"; echo $? > "$rc"; } 2>&1 | tee "$log"
status=$(cat "$rc")
[ -n "$status" ] || status=1
if [ "$status" != 0 ]; then
  echo "failed tests:"
  # without colours: a file's heading (e.g. lib/nginx.test.js), then each FAIL "title"
  sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '/^[^ ]*\.test\.js$/ { file = $0 } / FAIL / { sub(/^ *FAIL +/, ""); print "  " file ": " $0 }'
fi
exit "$status"
