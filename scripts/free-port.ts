// A port that was free a moment ago, for the programs that cannot be told to take port 0
// (nginx, opentracker, a command whose address a test must know in advance).
import { createServer } from 'node:net'

/** A port free a moment ago on `host`; the caller must cope with a lost race. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const a = s.address()
      const port = typeof a === 'object' && a ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}
