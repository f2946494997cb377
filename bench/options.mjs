/**
 * Command-line handling for the plain-JavaScript bench scripts (bench/e2e/load-test.mjs, bench/kernels/*.mjs):
 * util.parseArgs in strict mode, --help printing the usage, and a bad option answered with the usage and exit
 * status 2, so every script says what it accepts the same way.
 */
import { parseArgs } from 'util';

/** Exits 2 with the message and the usage. */
export function usageError(message, usage) {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** The parsed option values (util.parseArgs `options`, plus -h/--help), or exit: 0 after --help, 2 on a bad option. */
export function parseOptions(usage, options, argv = process.argv.slice(2)) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    usageError(e.message, usage);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return values;
}

/** values[name] as a positive integer (`fallback` when absent); exits 2 naming the option otherwise. */
export function positiveInt(values, name, fallback, usage) {
  const v = values[name] === undefined ? fallback : Number(values[name]);
  if (!Number.isInteger(v) || v < 1) usageError(`--${name} must be a positive integer, got ${values[name]}`, usage);
  return v;
}
