#!/bin/sh
# Regenerate the shipped sample media (media/) from ffmpeg's synthetic sources.
# Each clip is short and small enough to commit; titles are set so the demo shows them.
set -eu
# Ogg muxing picks random stream serials, so re-running changes the .ogg/.opus bytes.
cd "$(dirname "$0")/../media"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
ff -f lavfi -i "sine=frequency=440:duration=20" -ac 2 -ar 44100 -c:a libmp3lame -b:a 128k \
   -metadata title="A 440 Hz tone (MP3 CBR)" -metadata artist="pc sample" tone-cbr.mp3
ff -f lavfi -i "aevalsrc=sin(2*PI*(300+40*t)*t):d=20" -ac 2 -ar 44100 -c:a libmp3lame -q:a 4 \
   -metadata title="A rising chirp (MP3 VBR)" -metadata artist="pc sample" chirp-vbr.mp3
ff -f lavfi -i "sine=frequency=330:duration=15" -ac 2 -ar 44100 -c:a libvorbis -q:a 2 \
   -metadata title="A 330 Hz tone (Ogg Vorbis)" tone.ogg
ff -f lavfi -i "sine=frequency=550:duration=15" -ac 2 -ar 48000 -c:a libopus -b:a 64k \
   -metadata title="A 550 Hz tone (Ogg Opus)" tone.opus
ff -f lavfi -i "sine=frequency=660:duration=15" -ac 2 -ar 44100 -c:a aac -b:a 96k -f adts tone.aac
ff -f lavfi -i "sine=frequency=660:duration=10" -ac 2 -ar 44100 -c:a aac -b:a 96k \
   -metadata title="A 660 Hz tone (AAC in M4A)" tone.m4a
ff -f lavfi -i "sine=frequency=220:duration=5" -ac 1 -ar 8000 -c:a pcm_s16le \
   -metadata title="A 220 Hz tone (WAV)" tone.wav
# Timeline clips: second k of the programme is a tone of 400 + 60·k Hz, so a decoder
# can tell which moment it hears (test/timeline.ts). Two 20 s items: a is k = 0..19,
# b is k = 20..39; Opus twin of a for the Ogg path.
ff -f lavfi -i "aevalsrc=0.5*sin(2*PI*(400+60*floor(t))*t):s=44100:d=20" -ac 2 -c:a libmp3lame -b:a 128k \
   -metadata title="Timeline A" timeline-a.mp3
ff -f lavfi -i "aevalsrc=0.5*sin(2*PI*(1600+60*floor(t))*t):s=44100:d=20" -ac 2 -c:a libmp3lame -b:a 128k \
   -metadata title="Timeline B" timeline-b.mp3
ff -f lavfi -i "aevalsrc=0.5*sin(2*PI*(400+60*floor(t))*t):s=48000:d=20" -ac 2 -c:a libopus -b:a 64k \
   -metadata title="Timeline A (Opus)" timeline-a.opus
