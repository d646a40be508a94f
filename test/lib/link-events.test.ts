// LinkEvents (lib/swarm/link.ts) keeps EventEmitter's rules for what links use of it:
// the same script of on / once / off / emit gives the same calls, in the same order,
// with `this` the emitter, as node:events.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EventEmitter } from 'node:events'
import { LinkEvents } from '../../lib/swarm/link.js'

type Fn = (...args: any[]) => void
interface Emitter { on: (e: string, f: Fn) => unknown, once: (e: string, f: Fn) => unknown, off: (e: string, f: Fn) => unknown, emit: (e: string, ...a: any[]) => boolean }

/** Runs one script on `e` and returns what was called, in order. */
function script (e: Emitter): string[] {
  const log: string[] = []
  const f = function (this: unknown, x?: unknown): void { log.push(`f ${String(x)} ${this === e}`) }
  const g = (x?: unknown): void => { log.push(`g ${String(x)}`) }
  // once listeners fire once, on listeners every time, in the order added
  e.once('close', g)
  e.on('close', f)
  e.once('close', (x) => log.push(`o ${String(x)}`))
  log.push(`emit ${String(e.emit('close', 1))}`)
  log.push(`emit ${String(e.emit('close', 2))}`)
  // off removes the last one added of that function, a once by its function too
  e.on('message', f)
  e.on('message', g)
  e.on('message', f)
  e.off('message', f)
  log.push(`emit ${String(e.emit('message', 3))}`)
  e.once('message', g)
  e.off('message', g)
  log.push(`emit ${String(e.emit('message', 4))}`)
  // a listener added during an emit is not called by it; one removed during it still is
  const late = (): void => { log.push('late') }
  const h = (): void => { log.push('h'); e.on('handshake', late); e.off('handshake', k) }
  const k = (): void => { log.push('k') }
  e.on('handshake', h)
  e.on('handshake', k)
  e.emit('handshake')
  log.push('---')
  e.emit('handshake')
  // a once emitted again from inside itself runs once
  e.once('dropped', (why) => { log.push(`dropped ${String(why)}`); e.emit('dropped', 'again') })
  e.emit('dropped', 'first')
  // a once in an emit that an earlier listener repeats from inside: called by the inner emit only
  let again = true
  e.on('goodbye', () => { log.push('a'); if (again) { again = false; e.emit('goodbye') } })
  e.once('goodbye', () => log.push('b'))
  e.emit('goodbye')
  // a lone listener, with one argument and with two
  e.on('single', f)
  e.emit('single', 5)
  e.emit('single', 6, 7)
  e.once('lone', f)
  e.emit('lone', 8)
  e.emit('lone', 9)
  log.push(`emit ${String(e.emit('nothing'))}`)
  // an 'error' nobody listens to throws
  try { e.emit('error', new Error('boom')); log.push('no throw') } catch (err) { log.push(`threw ${(err as Error).message}`) }
  return log
}

test('LinkEvents: the calls of EventEmitter for the same script', () => {
  const want = script(new EventEmitter())
  const got = script(new LinkEvents())
  assert.equal(got, want)
  // the script covers each rule (a check of the script itself)
  assert.ok(want.includes('threw boom'))
  assert.equal(want.filter(l => l === 'k').length, 1)
  assert.equal(want.filter(l => l.startsWith('dropped')).length, 1)
  assert.equal(want.filter(l => l === 'b').length, 1)
})

test('LinkEvents.adopt: the listeners of an owner after the others, whenever added, not in an emit under way', () => {
  const e = new LinkEvents()
  const log: string[] = []
  const owner = {
    message (this: unknown, x: unknown) { log.push(`own message ${String(x)} ${this === e}`) },
    handshake (this: unknown, x: unknown) { log.push(`own handshake ${String(x)}`) },
    dropped (this: unknown, x: unknown, y: unknown) { log.push(`own dropped ${String(x)} ${String(y)}`) },
    close () { log.push('own close') },
  }
  // adopted from inside a handshake: that emit does not call it, the next does
  e.once('handshake', (x) => { log.push(`once handshake ${String(x)}`); e.adopt(owner) })
  e.on('close', () => log.push('close'))
  log.push(`emit ${String(e.emit('handshake', 1))}`)
  log.push(`emit ${String(e.emit('handshake', 2))}`)
  // listeners added after it are called before it, one or several
  e.on('message', (x) => log.push(`message ${String(x)}`))
  e.emit('message', 3)
  e.once('message', (x) => log.push(`once message ${String(x)}`))
  e.emit('message', 4)
  e.emit('message', 5)
  // alone it counts as a listener, with any number of arguments
  log.push(`emit ${String(e.emit('dropped', 'why', 'more'))}`)
  e.emit('close')
  log.push(`emit ${String(e.emit('nothing'))}`)
  // an owner without 'error' does not catch one
  try { e.emit('error', new Error('boom')); log.push('no throw') } catch (err) { log.push(`threw ${(err as Error).message}`) }
  assert.equal(log, [
    'once handshake 1', 'emit true',
    'own handshake 2', 'emit true',
    'message 3', 'own message 3 true',
    'message 4', 'once message 4', 'own message 4 true',
    'message 5', 'own message 5 true',
    'own dropped why more', 'emit true',
    'close', 'own close',
    'emit false',
    'threw boom',
  ])
})

test.run()
