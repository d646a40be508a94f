// What pc-icecast answers besides the stream: Icecast's /status-json.xsl shape (so
// monitoring tools read it), playlists (.m3u, .xspf, .pls) pointing at the URL the
// client used, /next.json from the schedule, and a self-contained HTML page.

export interface ItemSummary {
  title?: string
  url?: string
  start?: string
  end?: string
  duration?: number
}

/** What the broadcaster says about the station (the icy-* headers and the status page). */
export interface StationInfo {
  mount: string
  name: string
  description: string
  genre: string
  url: string
  public: boolean
}

export interface StationStatus extends StationInfo {
  serverId: string
  admin: string
  host: string
  location: string
  serverStartMs: number
  streamStartMs?: number
  contentType?: string
  bitrateKbps?: number
  audioInfo?: string
  listeners: number
  peak: number
  maxListeners: number
  title?: string
  now?: ItemSummary
  next: ItemSummary[]
  warnings: string[]
  /** target without credentials, and its state */
  relay?: { target: string, state: string }
  nowMs: number
}

/** icecast2's date format: "Sun, 22 Nov 2026 18:10:39 +0000" */
export function icecastDate (ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000')
}
/** and its ISO form: "2026-11-22T18:10:39+0000" */
export function icecastIso (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000')
}

export function statusJson (s: StationStatus, listenUrl: string): string {
  const icestats: Record<string, unknown> = {
    admin: s.admin,
    host: s.host,
    location: s.location,
    server_id: s.serverId,
    server_start: icecastDate(s.serverStartMs),
    server_start_iso8601: icecastIso(s.serverStartMs),
  }
  if (s.streamStartMs !== undefined) {
    const src: Record<string, unknown> = {}
    if (s.audioInfo) src.audio_info = s.audioInfo
    if (s.bitrateKbps) src.bitrate = s.bitrateKbps
    src.genre = s.genre
    src.listener_peak = s.peak
    src.listeners = s.listeners
    src.listenurl = listenUrl
    src.server_description = s.description
    src.server_name = s.name
    src.server_type = s.contentType ?? 'application/octet-stream'
    src.server_url = s.url
    src.stream_start = icecastDate(s.streamStartMs)
    src.stream_start_iso8601 = icecastIso(s.streamStartMs)
    if (s.title !== undefined) src.title = s.title
    src.dummy = null
    icestats.source = src
  }
  return JSON.stringify({ icestats })
}

export function m3u (listenUrl: string): string { return listenUrl + '\n' }

export function pls (listenUrl: string, s: StationStatus): string {
  return `[playlist]\nNumberOfEntries=1\nFile1=${listenUrl}\nTitle1=${s.name.replace(/[\r\n]/g, ' ')}\nLength1=-1\nVersion=2\n`
}

function xml (v: string): string {
  return v.replace(/[<>&'"]/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string)
}

export function xspf (listenUrl: string, s: StationStatus): string {
  const ann = [`Stream Title: ${s.name}`, `Stream Description: ${s.description}`, `Content Type:${s.contentType ?? ''}`,
    `Current Listeners: ${s.listeners}`, `Peak Listeners: ${s.peak}`, `Stream Genre: ${s.genre}`].join('\n')
  return `<?xml version="1.0" encoding="UTF-8"?>
<playlist xmlns="http://xspf.org/ns/0/" version="1">
  <title>${xml(s.name)}</title>
  <creator/>
  <trackList>
    <track>
      <location>${xml(listenUrl)}</location>
      <title>${xml(s.title ?? '')}</title>
      <annotation>${xml(ann)}</annotation>
      <info>${xml(s.url)}</info>
    </track>
  </trackList>
</playlist>
`
}

export function nextJson (s: StationStatus): string {
  return JSON.stringify({ now: s.now ?? null, next: s.next }) + '\n'
}

function html (v: string | undefined): string {
  return (v ?? '').replace(/[<>&'"]/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&quot;' })[c] as string)
}

export function formatUptime (ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  const d = Math.floor(s / 86400); const h = Math.floor(s % 86400 / 3600); const m = Math.floor(s % 3600 / 60)
  return (d ? `${d}d ` : '') + `${h}h ${String(m).padStart(2, '0')}m ${String(s % 60).padStart(2, '0')}s`
}

/** The page at /: now playing, up next, listeners, uptime, a player (video for a video mount); no external assets. */
export function htmlPage (s: StationStatus, mountPath: string): string {
  const next = s.next.slice(0, 10).map(i => `<li><time>${html(i.start?.slice(11, 19) ?? '')}</time> ${html(i.title ?? i.url)}</li>`).join('') || '<li>nothing announced yet</li>'
  const warn = s.warnings.length ? `<h2>Warnings</h2><ul class="warn">${s.warnings.map(w => `<li>${html(w)}</li>`).join('')}</ul>` : ''
  const relay = s.relay ? `<p>Relay to ${html(s.relay.target)}: ${html(s.relay.state)}</p>` : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${html(s.name || 'pc-icecast')}</title>
<style>body{font:16px/1.4 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}audio,video{width:100%}time{color:#666;font-variant-numeric:tabular-nums}.warn{color:#a00}</style>
</head><body>
<h1>${html(s.name || 'pc-icecast')}</h1>
${s.description ? `<p>${html(s.description)}</p>` : ''}
${/^video\//.test(s.contentType ?? '') ? `<video controls preload="none" src="${html(mountPath)}"></video>` : `<audio controls preload="none" src="${html(mountPath)}"></audio>`}
<h2>Now playing</h2><p id="now">${html(s.title ?? '—')}</p>
<h2>Up next</h2><ul id="next">${next}</ul>
<p>Listeners: <span id="listeners">${s.listeners}</span> (peak ${s.peak}) · Uptime: <span id="uptime">${formatUptime(s.nowMs - s.serverStartMs)}</span></p>
${relay}${warn}
<p><a href="${html(mountPath)}.m3u">M3U</a> · <a href="${html(mountPath)}.xspf">XSPF</a> · <a href="/listen.pls">PLS</a> · <a href="/status-json.xsl">status JSON</a> · <a href="/next.json">next.json</a></p>
<script>
const esc = t => String(t ?? '').replace(/[<>&]/g, c => ({'<':'&lt;','>':'&gt;','&':'&amp;'})[c])
async function tick () {
  try {
    const st = (await (await fetch('/status-json.xsl')).json()).icestats.source || {}
    document.getElementById('now').textContent = st.title || '—'
    document.getElementById('listeners').textContent = st.listeners ?? 0
    const nx = await (await fetch('/next.json')).json()
    document.getElementById('next').innerHTML = nx.next.slice(0, 10).map(i => '<li><time>' + esc((i.start || '').slice(11, 19)) + '</time> ' + esc(i.title || i.url) + '</li>').join('') || '<li>nothing announced yet</li>'
  } catch (e) {}
}
setInterval(tick, 10000)
</script>
</body></html>
`
}
