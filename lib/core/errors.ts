// The errors lib/ throws, each carrying its sysexits code and what and where it concerns;
// only run() in cli.ts turns them into an exit status.

export const EX = {
  OK: 0, USAGE: 64, DATAERR: 65, NOINPUT: 66, UNAVAILABLE: 69, SOFTWARE: 70, IOERR: 74,
} as const

/** Base of the errors lib/ throws; `where` names the file:line or peer it concerns. */
export class PcError extends Error {
  readonly code: number = EX.SOFTWARE
  /** the message without `where` (for a line that names the place itself) */
  readonly reason: string
  constructor (message: string, readonly where?: string) { super(where ? `${where}: ${message}` : message); this.reason = message }
}
export class UsageError extends PcError { override readonly code = EX.USAGE }
export class DataError extends PcError { override readonly code = EX.DATAERR }
export class NoInputError extends PcError { override readonly code = EX.NOINPUT }
export class UnavailableError extends PcError { override readonly code = EX.UNAVAILABLE }
export class IOError extends PcError { override readonly code = EX.IOERR }
