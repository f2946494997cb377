/**
 * Argument checks shared by the stand-alone profiling scripts (decode-profile.ts, op-profile.ts): a bad value
 * prints what is wrong and the script's usage, and exits with status 2.
 */

export interface ScriptArgs {
  /** prints the message and the usage, exits with status 2 */
  fail(message: string): never;
  /** `--name`'s value as a positive integer, or fail */
  positive(name: string, value: string): number;
}

export function scriptArgs(usage: string): ScriptArgs {
  const fail = (message: string): never => {
    console.error(`${message}\n${usage}`);
    process.exit(2);
  };
  const positive = (name: string, value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${value}`);
    return n;
  };
  return { fail, positive };
}
