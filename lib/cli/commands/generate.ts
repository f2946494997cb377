/**
 * `gpuformer generate --model M PROMPT`: streams the continuation to standard output as it is generated;
 * `--chat MESSAGE` sends MESSAGE as a user turn through the model's chat template instead.
 */
import { Engine, GenerateChunk } from '../../engine/engine';
import type { ChatMessage, GenerateOptions } from '../../engine/options';
import { UsageError, flag, int, list, num, parse, str } from '../args';
import { ENGINE_FLAGS, ENGINE_USAGE, dropUndefined, loadOptions } from '../engine-flags';
import { CliIO, readAll } from '../io';
import type { Command } from './command';

export const generate: Command = {
  name: 'generate',
  summary: 'generate text from a prompt (or a chat message), streamed as it comes',
  usage: `usage: gpuformer generate --model MODEL [PROMPT] [options]
  PROMPT                  the text to continue; without it, standard input is read
  --chat MESSAGE          send MESSAGE as a user turn through the model's chat template
  --system TEXT           a system message before the --chat turn
  --prompt-ids IDS        the prompt as comma-separated token ids (for models without a tokenizer);
                          the generated ids are printed instead of text
  --max-tokens N          most tokens to generate (default 256)
  --temperature T         0 (default) is greedy
  --top-k K               keep the K most likely tokens
  --top-p P               nucleus sampling
  --seed N                same seed, same text
  --stop TEXT             stop before TEXT (repeatable)
  --stats                 print token counts and speed to standard error at the end
${ENGINE_USAGE}`,

  async run(argv: string[], io: CliIO): Promise<number> {
    const p = parse(argv, {
      ...ENGINE_FLAGS, chat: { type: 'string' }, system: { type: 'string' }, 'prompt-ids': { type: 'string' },
      'max-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' },
      seed: { type: 'string' }, stop: { type: 'string', multiple: true }, stats: { type: 'boolean' },
    });
    const model = str(p, 'model');
    if (!model) throw new UsageError('--model is required');
    const opts: GenerateOptions = dropUndefined({
      maxTokens: int(p, 'max-tokens'), temperature: num(p, 'temperature', 0, 100), topK: int(p, 'top-k', 0),
      topP: num(p, 'top-p', Number.MIN_VALUE, 1), seed: int(p, 'seed', 0), stop: list(p, 'stop'),
    });
    const chat = str(p, 'chat');
    const idsFlag = str(p, 'prompt-ids');
    if (chat !== undefined && (idsFlag !== undefined || p.positionals.length)) throw new UsageError('--chat takes the message; give no PROMPT or --prompt-ids with it');
    const ids = idsFlag === undefined ? undefined : parseIds(idsFlag);
    let prompt = p.positionals.join(' ');
    if (chat === undefined && ids === undefined && prompt === '' && io.stdin && !io.stdin.isTTY) prompt = (await readAll(io.stdin)).replace(/\n$/, '');
    if (chat === undefined && ids === undefined && prompt === '') throw new UsageError('no prompt: give PROMPT, --chat, --prompt-ids, or text on standard input');

    const { options, done } = loadOptions(p, io);
    const engine = await Engine.load(model, options).finally(done);
    const ac = new AbortController();
    const onInterrupt = () => ac.abort();
    io.interrupted?.then(onInterrupt);
    try {
      let chunks: AsyncIterable<GenerateChunk>;
      if (chat !== undefined) {
        const messages: ChatMessage[] = [];
        const system = str(p, 'system');
        if (system) messages.push({ role: 'system', content: system });
        messages.push({ role: 'user', content: chat });
        chunks = engine.chat(messages, { ...opts, signal: ac.signal });
      } else {
        chunks = engine.generate(ids ?? prompt, { ...opts, signal: ac.signal });
      }
      const t0 = performance.now();
      let first = 0;
      let n = 0;
      let finish = '';
      for await (const c of chunks) {
        if (n === 0 && c.tokenIds.length) first = performance.now();
        n += c.tokenIds.length;
        if (ids !== undefined) {
          if (c.tokenIds.length) io.stdout.write(`${n > c.tokenIds.length ? ' ' : ''}${c.tokenIds.join(' ')}`);
        } else if (c.text) {
          io.stdout.write(c.text);
        }
        if (c.finishReason) finish = c.finishReason;
      }
      io.stdout.write('\n');
      if (flag(p, 'stats')) {
        const s = (performance.now() - t0) / 1000;
        const decode = n > 1 ? (n - 1) / ((performance.now() - first) / 1000) : 0;
        io.stderr.write(`${n} tokens in ${s.toFixed(2)} s (first after ${((first - t0) / 1000).toFixed(2)} s, then ${decode.toFixed(1)} tokens/s); finish: ${finish}\n`);
      }
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

function parseIds(s: string): number[] {
  const ids = s.split(/[\s,]+/).filter(Boolean).map(Number);
  if (ids.length === 0 || !ids.every((x) => Number.isInteger(x) && x >= 0)) throw new UsageError(`--prompt-ids must be comma-separated token ids, got '${s}'`);
  return ids;
}
