#!/bin/sh
# Start Debian's opentracker in the foreground with a whitelist made from a file of
# info-hashes (40 hex digits at the start of each line; other lines are ignored, so
# `pc-playlist --whitelist` or `pc-hash --info-hash` output works as it is).
#
#   scripts/opentracker.sh [-i IP] PORT HASHFILE
#
# Debian builds opentracker to track only whitelisted info-hashes; the whitelist must
# lie inside the directory it chroots to (-d) and be readable by the user it drops to
# (nobody) when started as root. Announce URL: http://IP:PORT/announce (IP defaults to
# 127.0.0.1). SIGHUP makes opentracker reread the whitelist: rerun nothing, just
# rewrite $dir/whitelist.txt (the path is printed on stderr) and `kill -HUP PID`.
# The process becomes opentracker itself (exec), so killing this PID stops it; the
# small temporary directory stays behind (set TMPDIR to put it somewhere you clean).
set -eu
ip=127.0.0.1
if [ "${1:-}" = "-i" ]; then ip=$2; shift 2; fi
if [ $# -ne 2 ]; then echo "usage: $0 [-i IP] PORT HASHFILE" >&2; exit 64; fi
port=$1; hashes=$2
command -v opentracker >/dev/null || { echo "$0: opentracker is not installed (apt-get install opentracker)" >&2; exit 69; }
[ -r "$hashes" ] || { echo "$0: cannot read $hashes" >&2; exit 66; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/pc-opentracker.XXXXXX")
chmod 755 "$dir"
grep -oiE '^[0-9a-f]{40}' "$hashes" | tr 'A-F' 'a-f' > "$dir/whitelist.txt" || true
chmod 644 "$dir/whitelist.txt"
echo "$0: whitelist $dir/whitelist.txt ($(wc -l < "$dir/whitelist.txt") info-hashes), announce http://$ip:$port/announce" >&2
exec opentracker -i "$ip" -p "$port" -P "$port" -d "$dir" -w whitelist.txt
