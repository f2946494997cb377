/**
 * The vocabulary as structured output sees it (lib/structured/vocabulary.ts): each token's bytes from the
 * tokenizer.json decoders (byte-level BPE, SentencePiece with byte fallback, Metaspace), special tokens
 * without bytes, decoders it cannot follow refused; the trie finds every token; and on SmolLM2's real
 * tokenizer, the bytes of a text's tokens are the text.
 */
import { TextTokenizer } from '../../lib/tokenizer/tokenizer';
import { TokenVocabulary } from '../../lib/structured/vocabulary';
import { smolTokenizer, utf8 } from './helpers';

const text = (v: TokenVocabulary, id: number) => (v.bytes[id] ? Buffer.from(v.bytes[id]!).toString('latin1') : null);

describe('token vocabulary', () => {
  it('byte-level BPE: each character stands for one byte; special tokens add no text', () => {
    const json = {
      model: { type: 'BPE', vocab: { 'Ġhello': 0, 'Ċ': 1, 'Ã©': 2, '{"': 3, 'Ġ': 4, 'ĠĠ': 5 } },
      added_tokens: [{ id: 6, content: '<|im_end|>', special: true }, { id: 7, content: 'my word', special: false }],
      decoder: { type: 'ByteLevel' },
    };
    const v = TokenVocabulary.fromTokenizerJson(json, 9);
    expect(text(v, 0)).toBe(' hello');
    expect(text(v, 1)).toBe('\n');
    expect(Buffer.from(v.bytes[2]!).toString('utf8')).toBe('é');
    expect(text(v, 3)).toBe('{"');
    expect(text(v, 5)).toBe('  ');
    expect(v.bytes[6]).toBeNull();
    expect(text(v, 7)).toBe('my word');
    expect(v.bytes[8]).toBeNull(); // past the tokenizer: a padded embedding row
    expect(v.words).toBe(1);
  });

  it('SentencePiece: ▁ is a space, <0xXX> a byte; the whole-text Strip leaves tokens alone', () => {
    const json = {
      model: { type: 'BPE', vocab: { '<unk>': 0, '▁hello': 1, '<0x0A>': 2, 'world': 3, '<0xC3>': 4 } },
      added_tokens: [{ id: 0, content: '<unk>', special: true }],
      decoder: { type: 'Sequence', decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ] },
    };
    const v = TokenVocabulary.fromTokenizerJson(json, 5);
    expect(v.bytes[0]).toBeNull();
    expect(text(v, 1)).toBe(' hello');
    expect(text(v, 2)).toBe('\n');
    expect(text(v, 3)).toBe('world');
    expect([...v.bytes[4]!]).toEqual([0xc3]);
  });

  it('Metaspace decoders and Unigram vocabularies', () => {
    const json = { model: { type: 'Unigram', vocab: [['<s>', 0], ['▁a▁b', -1], ['c', -2]] }, decoder: { type: 'Metaspace', replacement: '▁' },
      added_tokens: [{ id: 0, content: '<s>', special: true }] };
    const v = TokenVocabulary.fromTokenizerJson(json, 3);
    expect(text(v, 1)).toBe(' a b');
    expect(text(v, 2)).toBe('c');
  });

  it('refuses decoders whose token text it cannot know', () => {
    for (const decoder of [{ type: 'CTC' }, null, { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { Regex: 'x+' }, content: '' }] }]) {
      expect(() => TokenVocabulary.fromTokenizerJson({ model: { vocab: { a: 0 } }, decoder }, 1)).toThrow(
        expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED' }));
    }
  });

  it('the trie finds every token at the end of its bytes, identical byte strings included', () => {
    const bytes = ['a', 'ab', 'abc', 'b', 'ab', '', 'ba', 'c\u00ff'].map((s) => (s ? Uint8Array.from(Buffer.from(s, 'latin1')) : null));
    const v = new TokenVocabulary(bytes.length, bytes);
    const find = (s: string) => {
      let node = 0;
      for (const b of Buffer.from(s, 'latin1')) node = v.child(node, b);
      return node < 0 ? [] : Array.from(v.tokenIds.subarray(v.tokenStart[node], v.tokenStart[node + 1])).sort();
    };
    expect(find('ab')).toEqual([1, 4]);
    expect(find('abc')).toEqual([2]);
    expect(find('c\u00ff')).toEqual([7]);
    expect(find('bb')).toEqual([]);
    expect(v.child(0, 0x7a)).toBe(-1);
    // as another thread hands it over (packed bytes, the trie as built): the same vocabulary
    const w = TokenVocabulary.fromParts(v.toParts());
    expect(w.bytes).toEqual(v.bytes);
    expect([w.childStart, w.childByte, w.childNode, w.tokenStart, w.tokenIds]).toEqual([v.childStart, v.childByte, v.childNode, v.tokenStart, v.tokenIds]);
  });

  it('SmolLM2: the bytes of a text\'s tokens are the text', async () => {
    const { vocab, json, config } = await smolTokenizer();
    const tok = new TextTokenizer(json, config);
    expect(vocab.size).toBe(49152);
    // the control tokens (<|im_start|>, <|im_end|>, <|endoftext|>) add no text
    for (const t of ['<|im_start|>', '<|im_end|>', '<|endoftext|>']) expect(vocab.bytes[tok.tokenToId(t)!]).toBeNull();
    for (const s of ['{"name": "Zoë", "age": 42}', '{\n  "a": [1, 2.5e-3],\n\t"b": null\n}', 'naïve café 😀 日本語 \\u00e9']) {
      const ids = tok.encode(s, { addSpecialTokens: false });
      expect(Buffer.concat(ids.map((id) => Buffer.from(vocab.bytes[id]!))).toString('utf8')).toBe(s);
    }
    // every byte of JSON text has a token of its own (so a grammar can always go on), but for the lead
    // bytes of planes 4-11 (F1, F2), which hold no assigned character
    const single = new Set<number>();
    vocab.bytes.forEach((b) => { if (b?.length === 1) single.add(b[0]); });
    const jsonBytes = [0x09, 0x0a, 0x0d];
    for (let b = 0x20; b <= 0xf4; b++) if (b < 0xc0 || b > 0xc1) jsonBytes.push(b);
    expect(jsonBytes.filter((b) => !single.has(b))).toEqual([0xf1, 0xf2]);
    expect(utf8('x')).toEqual(vocab.bytes[tok.tokenToId('x')!]);
  });
});
