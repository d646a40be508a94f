// A fixed number of same-sized buffers, taken and given back: whoever holds one owns it
// until give(), and take() waits while all are out. Memory stays flat however fast
// bytes arrive: the producer that cannot get a buffer is held back (backpressure).

export class BufferPool {
  private readonly free: Buffer[] = []
  private made = 0
  private readonly waiting: Array<(b: Buffer) => void> = []
  /** `make(k)` makes the k-th buffer (0-based) the first time it is needed */
  constructor (readonly max: number, readonly size: number, private readonly make: (k: number) => Buffer = () => Buffer.allocUnsafeSlow(size)) {}

  /** a buffer at once, or undefined when all are out */
  tryTake (): Buffer | undefined {
    const b = this.free.pop()
    if (b) return b
    if (this.made < this.max) return this.make(this.made++)
    return undefined
  }

  async take (): Promise<Buffer> {
    return this.tryTake() ?? await new Promise(resolve => this.waiting.push(resolve))
  }

  give (b: Buffer): void {
    const w = this.waiting.shift()
    if (w) w(b); else this.free.push(b)
  }
}
