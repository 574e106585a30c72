/**
 * A value that must never be printed. Its string and JSON forms are a mask, so a
 * secret that slips into a template literal, a log line or an error message shows
 * as `***` instead of its value; only {@link Secret.reveal} gives the value.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret value itself: pass it only to the API call that needs it. */
  reveal(): string {
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
