/** A subcommand of the CLI: its name, one line for the overview, its --help text, and what it does. */
import type { CliIO } from '../io';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** resolves with the exit status */
  run(argv: string[], io: CliIO): Promise<number>;
}
