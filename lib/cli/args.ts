/**
 * Command-line parsing for the subcommands, on node:util parseArgs (strict: an unknown flag or a missing
 * value is a usage error that names it), plus the typed conversions the flags need.
 */
import { parseArgs, ParseArgsConfig } from 'util';

/** A mistake on the command line: the CLI prints it with the command's usage and exits with status 2. */
export class UsageError extends Error {}

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: FlagSpec, maxPositionals = Infinity): Parsed {
  let r: Parsed;
  try {
    r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  if (r.positionals.length > maxPositionals) throw new UsageError(`unexpected argument '${r.positionals[maxPositionals]}'`);
  return r;
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

export function list(p: Parsed, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function int(p: Parsed, name: string, min = 1): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
}

export function num(p: Parsed, name: string, lo: number, hi: number): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < lo || n > hi) throw new UsageError(`--${name} must be a number in [${lo}, ${hi}], got '${v}'`);
  return n;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** '8GiB', '512MB', '1.5G', '1048576' → bytes. */
export function bytes(p: Parsed, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const m = /^\s*([\d.]+)\s*([a-zA-Z]*)\s*$/.exec(v);
  const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
  const n = m ? Number(m[1]) : NaN;
  if (!m || unit === undefined || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${name} must be a size such as 8GiB, 512MB or 1073741824, got '${v}'`);
  }
  return Math.round(n * unit);
}

/** ['a', 'b', 'c'] → 'a, b or c' (the choices of a flag, in usage errors). */
export function choices(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}
