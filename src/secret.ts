/**
 * A value that must never be printed. Its string and JSON forms are a mask, so a
 * secret that slips into a template literal, a log line or an error message shows
 * as `***` instead of its value; only {@link Secret.reveal} gives the value.
 */
export class Secret {
  readonly #value: string;
  readonly #unset: Error | undefined;

  constructor(value: string, unset?: Error) {
    this.#value = value;
    this.#unset = unset;
  }

  /** A secret that was not given: {@link reveal} throws `error`, which says where to set it. */
  static unset(error: Error): Secret {
    return new Secret('', error);
  }

  /** Whether a value was given. */
  get isSet(): boolean {
    return this.#unset === undefined;
  }

  /** The secret value itself: pass it only to the API call that needs it. Throws when it was not given. */
  reveal(): string {
    if (this.#unset) throw this.#unset;
    return this.#value;
  }

  toString(): string {
    return '***';
  }

  toJSON(): string {
    return '***';
  }

  /** Node's util.inspect (console.log, vitest diffs) shows the mask too. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret(***)';
  }
}
