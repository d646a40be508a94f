#!/bin/sh
# Install the Debian programs the tests and benchmarks use, if any is missing:
# nginx (origin), ffmpeg/ffprobe (players), icecast2 (relay target and reference),
# opentracker (tracker at scale), raptor2-utils (rapper, an RDF/XML validator), mandoc,
# mpv and curl (which the man pages' examples use), liquidsoap, libshout-tools (shout) and butt
# with Xvfb for its window (live sources pushing into pc-live), chromium (the listener
# page played in a browser).
# Says what it installs on stderr; fails with a clear message where it cannot.
set -eu
need=""
for pair in nginx:nginx-light ffmpeg:ffmpeg ffprobe:ffmpeg icecast2:icecast2 opentracker:opentracker rapper:raptor2-utils mandoc:mandoc mpv:mpv curl:curl liquidsoap:liquidsoap shout:libshout-tools butt:butt Xvfb:xvfb chromium:chromium; do
  prog=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$prog" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$prog" ] && ! [ -x "/usr/bin/$prog" ]; then
    case " $need " in *" $pkg "*) ;; *) need="$need $pkg";; esac
  fi
done
[ -z "$need" ] && exit 0
echo "provision: installing Debian packages the tests need:$need" >&2
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "provision: cannot install$need: need root and apt-get; install them and run again" >&2
  exit 69
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || { echo "provision: apt-get update failed" >&2; exit 69; }
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >&2 || { echo "provision: apt-get install$need failed" >&2; exit 69; }
# the packages start system services we do not want running; tests start their own
for svc in nginx icecast2 opentracker; do
  (command -v service >/dev/null 2>&1 && service "$svc" stop) >/dev/null 2>&1 || true
done
echo "provision: installed$need" >&2
