/**
 * Chat templates rendered with @huggingface/jinja: the SmolLM2 GGUF's template gives exactly the reference
 * prompt_text of every chat case; the generation prompt, bos/eos and extra variables reach the template; the
 * end-of-turn token is found; bad templates and bad messages are refused with coded errors.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GgufMeta } from '../../lib/loader/gguf-metadata';
import { readGguf } from '../../lib/loader/gguf-reader';
import { ChatTemplate, endOfTurnTokenId, renderChat, type ChatMessage } from '../../lib/tokenizer/chat-template';
import { ggufTokenizer } from '../../lib/loader/gguf-tokenizer';

const SHARED = path.resolve(__dirname, '../../../shared');
const REAL = path.join(SHARED, 'models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

interface Case {
  kind: string;
  input: string | ChatMessage[];
  prompt_text: string;
}
const cases: Case[] = JSON.parse(fs.readFileSync(path.join(SHARED, 'fixtures/SmolLM2-135M-Instruct.json'), 'utf8')).cases;
const chatCases = cases.filter((c) => c.kind === 'chat');

/** The fixture records chat inputs as a Python repr of the message list. */
function messagesOf(c: Case): ChatMessage[] {
  if (Array.isArray(c.input)) return c.input;
  const json = c.input.replace(/'((?:[^'\\]|\\.)*)'/g, (_m, s: string) => JSON.stringify(s.replace(/\\'/g, "'")));
  return JSON.parse(json);
}

let template: string;
let meta: GgufMeta;
beforeAll(async () => {
  meta = new GgufMeta(await readGguf(REAL));
  template = meta.string('tokenizer.chat_template')!;
});

describe('the SmolLM2 GGUF chat template', () => {
  test('the fixture has chat cases', () => {
    expect(chatCases.length).toBeGreaterThanOrEqual(2);
  });

  test.each(chatCases.map((c, i) => [i, c] as const))('chat case %i renders to its prompt_text', (_i, c) => {
    const messages = messagesOf(c);
    expect(messages.length).toBeGreaterThan(0);
    expect(renderChat(template, messages, { addGenerationPrompt: true, bosToken: '<|im_start|>', eosToken: '<|im_end|>' }))
      .toBe(c.prompt_text);
  });

  test('without the generation prompt the text ends after the last turn', () => {
    const t = new ChatTemplate(template);
    const text = t.render([{ role: 'user', content: 'Hi' }]);
    expect(text.endsWith('<|im_start|>user\nHi<|im_end|>\n')).toBe(true);
    expect(text).not.toContain('<|im_start|>assistant');
    // a default system turn is added only when the conversation has none
    expect(text.startsWith('<|im_start|>system\nYou are a helpful AI assistant named SmolLM')).toBe(true);
    const withSystem = t.render([{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }], { addGenerationPrompt: true });
    expect(withSystem).toBe('<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n');
  });

  test('the end-of-turn token is <|im_end|>, id 2 (EOS)', () => {
    expect(new ChatTemplate(template).endOfTurn(['<|endoftext|>', '<|im_start|>', '<|im_end|>'])).toBe('<|im_end|>');
    expect(endOfTurnTokenId(template, ggufTokenizer(meta)!)).toBe(2);
  });
});

describe('template variables and errors', () => {
  test('bos_token, eos_token, add_generation_prompt and extra variables reach the template', () => {
    const t = '{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}' +
      '{% if add_generation_prompt %}<gen>{% endif %}{{ eos_token }}|{{ date_string }}';
    const messages = [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }];
    expect(renderChat(t, messages, { addGenerationPrompt: true, bosToken: '<s>', eosToken: '</s>', date_string: '1 May' }))
      .toBe('<s>[user:a][assistant:b]<gen></s>|1 May');
    expect(renderChat(t, messages)).toBe('[user:a][assistant:b]|');
  });

  test('end of turn found as the eos token, or not at all', () => {
    const eosTurns = new ChatTemplate('{% for m in messages %}{{ m.role }}: {{ m.content }}{{ eos_token }}\n{% endfor %}');
    expect(eosTurns.endOfTurn(['</s>', '<s>'], { eosToken: '</s>' })).toBe('</s>');
    const plain = new ChatTemplate('{% for m in messages %}{{ m.content }}\n{% endfor %}');
    expect(plain.endOfTurn(['</s>'], { eosToken: '</s>' })).toBeUndefined();
  });

  test('raise_exception in a template is an input error carrying its message', () => {
    const strict = "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}" +
      '{% endif %}{{ m.content }}{% endfor %}';
    expect(() => renderChat(strict, [{ role: 'system', content: 'x' }]))
      .toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/System role not supported/) }));
  });

  test('a template that does not parse is bad weights', () => {
    expect(() => new ChatTemplate('{% for m in messages %}{{ m.content }}'))
      .toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_BAD_WEIGHTS', message: expect.stringMatching(/chat template does not parse/) }));
  });

  test('malformed messages are input errors naming the message', () => {
    const t = new ChatTemplate('{% for m in messages %}{{ m.content }}{% endfor %}');
    const input = (re: RegExp) => expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(re) });
    expect(() => t.render([])).toThrow(input(/non-empty array/));
    expect(() => t.render([{ role: 'user', content: 'a' }, { role: '', content: 'b' }])).toThrow(input(/messages\[1\]\.role/));
    expect(() => t.render([{ role: 'user', content: 5 as unknown as string }])).toThrow(input(/messages\[0\]\.content must be/));
    expect(() => t.render([null as unknown as ChatMessage])).toThrow(input(/messages\[0\] is not an object/));
  });
});
