/**
 * Admission on the real models, over HTTP on loopback: one huge request does not stall the server (a 7 MiB
 * conversation with n: 16 is refused from its byte length alone; a 600 KB one is tokenized once, on a
 * tokenizer thread, while /health keeps answering), and embeddings account for what the model reads
 * (all-MiniLM-L6-v2: usage after truncation to 256 tokens, and 256 advertised by /v1/models).
 *
 * No bound here depends on the machine's speed: the event loop's longest stall is compared with what
 * tokenizing a single megabyte inline costs on this machine, measured just before and just after each request
 * (so a load spike during the request is seen by the bound too; the old behaviour stalled for 17 tokenizations
 * of 7 MiB, about 120 times the bound), and /health is only required to answer before a request that has at
 * least 100 000 tokens to count.
 */
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { serveModel } from '../helpers/served-model';

const MODELS = path.resolve(__dirname, '../../../shared/models');
const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');

const text = (bytes: number) => {
  const unit = 'The village sat at the edge of a dark forest where the old river bent twice. ';
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
};

interface Timed { status: number; body: string; at: number }
const timedPost = async (url: string, body: unknown): Promise<Timed> => {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const b = await r.text();
  return { status: r.status, body: b, at: performance.now() };
};

describe('admission on SmolLM2-135M-Instruct (GGUF, CPU)', () => {
  const served = serveModel(GGUF, { maxModelLen: 8192, maxNumSeqs: 16, maxNumBatchedTokens: 512 }, 'smollm2');
  /** what tokenizing 1 MiB inline takes here now (16 times 64 KiB, so that a measurement stays short) */
  const tokenizeMiBMs = (): number => {
    const t0 = performance.now();
    served.engine.tokenizer!.encode(text(64 * 1024));
    return (performance.now() - t0) * 16;
  };

  /**
   * Sends `body` to chat/completions while polling /health; the big answer, the health answers' times, the
   * longest stall and the stall allowed: at least 500 ms, else what tokenizing 1 MiB inline took just before or
   * just after the request, whichever was longer.
   */
  async function admitWhilePolling(body: unknown) {
    const before = tokenizeMiBMs();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const big = timedPost(`${served.base}/v1/chat/completions`, body);
    let settled = false;
    big.finally(() => (settled = true)).catch(() => undefined);
    const health: Timed[] = [];
    const deadline = performance.now() + 120_000;
    while (!settled && performance.now() < deadline) {
      const r = await fetch(`${served.base}/health`);
      health.push({ status: r.status, body: await r.text(), at: performance.now() });
      await new Promise((res) => setTimeout(res, 10));
    }
    const answer = await big;
    delay.disable();
    const stallBoundMs = Math.max(500, before, tokenizeMiBMs());
    return { answer, health, maxStallMs: delay.max / 1e6, stallBoundMs };
  }

  it('refuses a 7 MiB conversation with n: 16 from its byte length, the event loop never stalled', async () => {
    const { answer, health, maxStallMs, stallBoundMs } = await admitWhilePolling({
      model: 'smollm2', n: 16, messages: [{ role: 'user', content: text(7 * 2 ** 20) }],
    });
    expect(answer.status).toBe(400);
    const message = JSON.parse(answer.body).error.message as string;
    expect(message).toMatch(/^the conversation has at least \d+ tokens \(its \d+ bytes, at most \d+ per token\); maxModelLen is 8192/);
    expect(message.length).toBeLessThan(300);
    expect(health.every((h) => h.status === 200)).toBe(true);
    expect(maxStallMs).toBeLessThan(stallBoundMs);
    expect(served.engine.stats()).toMatchObject({ running: 0, waiting: 0, kvBlocksUsed: 0 });
  });

  it('tokenizes a 600 KB conversation once, on a tokenizer thread: /health answers before its 400', async () => {
    const { answer, health, maxStallMs, stallBoundMs } = await admitWhilePolling({
      model: 'smollm2', n: 16, messages: [{ role: 'user', content: text(600_000) }],
    });
    expect(answer.status).toBe(400);
    const tokens = Number(/^the conversation has (\d+) tokens; maxModelLen is 8192/.exec(JSON.parse(answer.body).error.message)?.[1]);
    expect(tokens).toBeGreaterThan(100_000);
    expect(health.length).toBeGreaterThan(0);
    expect(health[0].at).toBeLessThan(answer.at);
    expect(health.every((h) => h.status === 200)).toBe(true);
    expect(maxStallMs).toBeLessThan(stallBoundMs);
  });

  it('still serves a normal chat request with n: 3', async () => {
    const r = await timedPost(`${served.base}/v1/chat/completions`, {
      model: 'smollm2', n: 3, max_tokens: 4, temperature: 0, messages: [{ role: 'user', content: 'What is the capital of France?' }],
    });
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { choices: Array<{ message: { content: string } }>; usage: { prompt_tokens: number } };
    expect(body.choices).toHaveLength(3);
    body.choices.forEach((c) => expect(c.message.content.length).toBeGreaterThan(0));
    const ids = await served.engine.tokenizeChat([{ role: 'user', content: 'What is the capital of France?' }]);
    expect(body.usage.prompt_tokens).toBe(ids.length); // the prompt once, whatever n is
  });
});

describe('embedding accounting on all-MiniLM-L6-v2', () => {
  const served = serveModel(path.join(MODELS, 'all-MiniLM-L6-v2'), { maxNumSeqs: 16, maxNumBatchedTokens: 1024 }, 'minilm');

  it('reports the tokens the model read: 400 words count as the 256 tokens they are truncated to', async () => {
    const words = (n: number) => Array.from({ length: n }, () => 'hello').join(' ');
    const r = await timedPost(`${served.base}/v1/embeddings`, { model: 'minilm', input: [words(400), words(254), words(3)], encoding_format: 'float' });
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { data: Array<{ embedding: number[] }>; usage: { prompt_tokens: number; total_tokens: number } };
    // [CLS] + 254 words + [SEP] = 256 for both long inputs; [CLS] + 3 + [SEP] = 5
    expect(body.usage).toEqual({ prompt_tokens: 256 + 256 + 5, total_tokens: 256 + 256 + 5 });
    expect(body.data[0].embedding).toEqual(body.data[1].embedding);
  });

  it('advertises the 256 tokens embeddings use', async () => {
    const card = (await (await fetch(`${served.base}/v1/models/minilm`)).json()) as { max_model_len: number };
    expect(card.max_model_len).toBe(256);
    expect(served.engine.maxSeqLength).toBe(256);
  });
});
