/**
 * The command-line front end: `gpuformer <command> [options]`. Each command parses its own flags; this
 * dispatches, prints help, and turns failures into one readable line and an exit status (1 for errors the
 * engine reports, 2 for command-line mistakes).
 */
import { GpuformerError } from '../errors';
import { UsageError } from './args';
import { bench } from './commands/bench';
import type { Command } from './commands/command';
import { embed } from './commands/embed';
import { generate } from './commands/generate';
import { inspect } from './commands/inspect';
import { pull } from './commands/pull';
import { serve } from './commands/serve';
import type { CliIO } from './io';

export const COMMANDS: Command[] = [inspect, embed, generate, serve, bench, pull];

function overview(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: gpuformer <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    "run 'gpuformer <command> --help' for a command's options",
  ].join('\n');
}

function version(): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require('../../package.json').version;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const cmd = COMMANDS.find((c) => c.name === rest[0]);
    io.stdout.write(`${cmd ? cmd.usage : overview()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.stderr.write(`gpuformer: unknown command '${name}'\n\n${overview()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`gpuformer ${cmd.name}: ${e.message}\n\n${cmd.usage}\n`);
      return 2;
    }
    if (e instanceof GpuformerError) {
      io.stderr.write(`gpuformer ${cmd.name}: ${e.message} (${e.code})\n`);
      return 1;
    }
    io.stderr.write(`gpuformer ${cmd.name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    return 1;
  }
}
