// Video clips made at test time by ffmpeg (lavfi testsrc + sine, 320x240, 25 fps), and ffprobe's word on them.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

export const VIDEO_SECONDS = 7
export const FPS = 25
/** one video frame: how far a duration may be from ffprobe's */
export const FRAME_MS = 1000 / FPS

const SRC = ['-f', 'lavfi', '-i', `testsrc=size=320x240:rate=${FPS}:duration=${VIDEO_SECONDS}`, '-f', 'lavfi', '-i', `sine=frequency=440:duration=${VIDEO_SECONDS}`]
const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac']

export interface VideoClip { name: string, args: string[], mime: string, format: string }

export const CLIPS: VideoClip[] = [
  { name: 'h264-aac.ts', args: X264, mime: 'video/mp2t', format: 'mpegts' },
  { name: 'mpeg2-mp2.ts', args: ['-c:v', 'mpeg2video', '-g', '25', '-c:a', 'mp2'], mime: 'video/mp2t', format: 'mpegts' },
  { name: 'vp8-opus.webm', args: ['-c:v', 'libvpx', '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8', '-g', '25', '-c:a', 'libopus'], mime: 'video/webm', format: 'webm' },
  { name: 'vp9-opus.webm', args: ['-c:v', 'libvpx-vp9', '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8', '-g', '25', '-c:a', 'libopus'], mime: 'video/webm', format: 'webm' },
  { name: 'h264-aac.mkv', args: X264, mime: 'video/x-matroska', format: 'matroska' },
  { name: 'frag.mp4', args: [...X264, '-movflags', 'frag_keyframe+empty_moov+default_base_moof'], mime: 'video/mp4', format: 'fmp4' },
  { name: 'faststart.mp4', args: [...X264, '-movflags', '+faststart'], mime: 'video/mp4', format: 'mp4' },
  { name: 'plain.mov', args: X264, mime: 'video/quicktime', format: 'mov' },
  { name: 'theora.ogv', args: ['-c:v', 'libtheora', '-g', '25', '-c:a', 'libvorbis'], mime: 'video/ogg', format: 'theora' },
]

export function makeClip (dir: string, c: VideoClip): string {
  const path = join(dir, c.name)
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...SRC, ...c.args, path])
  return path
}

export function ffprobeSeconds (path: string): number {
  return Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], { encoding: 'utf8' }))
}

/** deterministic noise */
export function noise (n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) & 0x7fffffff; b[i] = x >> 16 }
  return b
}
