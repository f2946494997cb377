#!/usr/bin/env node
/** The `gpuformer` executable (package.json "bin" → dist/cli.js): runs lib/cli/main with the process's streams. */
import { main } from './cli/main';

let signals = 0;
let onInterrupt: () => void = () => undefined;
const interrupted = new Promise<void>((resolve) => {
  onInterrupt = resolve;
});
const onSignal = () => {
  // the first Ctrl-C stops gracefully (requests end, memory is freed); a second one does not wait
  if (++signals > 1) process.exit(130);
  onInterrupt();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, interrupted }).then(
  (code) => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // exit once stdout has drained (process.exit could cut off output going to a pipe)
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`gpuformer: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
