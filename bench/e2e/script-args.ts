/**
 * Argument checks shared by the stand-alone profiling scripts (decode-profile.ts, op-profile.ts): a bad value
 * prints what is wrong and the script's usage, and exits with status 2.
 */

export function usageFailure(usage: string): (message: string) => never {
  return (message: string): never => {
    console.error(`${message}\n${usage}`);
    process.exit(2);
  };
}

/** `--name`'s value as a positive integer, or the script's usage failure. */
export function positiveInt(name: string, value: string, fail: (message: string) => never): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${value}`);
  return n;
}
