// Binding a server: what stops it (a port in use, no permission, no such address) is a
// service we cannot offer, exit 69, named by the address we were asked for.
import type { Server } from 'node:net'
import { UnavailableError } from './errors.js'

/** Listen on host:port and give back the address bound; failures become UnavailableError, the system's error as its cause. */
export async function listenOn (server: Server, port: number, host: string, where = `${host}:${port}`): Promise<{ host: string, port: number }> {
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      server.off('listening', onListening)
      reject(Object.assign(new UnavailableError(`cannot listen: ${e.code ?? e.message}`, where), { cause: e }))
    }
    const onListening = (): void => { server.off('error', onError); resolve() }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
  const a = server.address()
  return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port }
}
