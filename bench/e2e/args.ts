/** The command line of `npm run bench`, parsed and checked (a bad flag is an error that says what is allowed). */
import type { Device, EngineName } from './types';

export type Section = 'embed' | 'prefill' | 'decode' | 'concurrency';
export const SECTIONS: Section[] = ['embed', 'prefill', 'decode', 'concurrency'];
export const ENGINES: EngineName[] = ['gpuformer', 'transformers.js', 'node-llama-cpp', 'pytorch'];

export interface BenchArgs {
  device: Device;
  quick: boolean;
  only: Section[];
  /** substrings of catalog ids; empty: the run's default models */
  models: string[];
  engines: EngineName[];
  threads: number;
  /** write the results JSON and BENCHMARKS.md (off: print only) */
  save: boolean;
  /** write the results JSON into this folder instead of bench/results, and leave BENCHMARKS.md alone */
  outDir?: string;
  /** give up on one engine × model after this many seconds */
  jobTimeoutSeconds: number;
  /** the conditions of the run, in words, for the report (e.g. "machine otherwise idle") */
  note?: string;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]
  --device cpu|cuda        where gpuformer runs (default cpu); peers follow (transformers.js and
                           node-llama-cpp on the CPU, PyTorch and node-llama-cpp's CUDA build on cuda)
  --quick                  small batch sizes and few repetitions, the main models only
  --only LIST              sections: ${SECTIONS.join(',')} (default all)
  --models LIST            catalog ids containing these words, e.g. minilm,smollm2
  --engines LIST           ${ENGINES.join(',')} (default all that apply)
  --no-peers               gpuformer only
  --threads N              CPU threads for every engine (default 2)
  --no-save                print results without writing bench/results or BENCHMARKS.md
  --out DIR                write the results JSON into DIR (not bench/results) and leave BENCHMARKS.md
                           alone (a GPU machine's run, copied into bench/results afterwards)
  --job-timeout SECONDS    per engine and model (default 1800)
  --note TEXT              the run's conditions in words, kept in the record and BENCHMARKS.md`;

const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);

/** A comma-separated list whose every item is one of `known` (`what` names an item in the error). */
function listOf<T extends string>(flag: string, v: string, known: readonly T[], what: string): T[] {
  const items = list(v);
  const bad = items.filter((x) => !known.includes(x as T));
  if (bad.length) throw new Error(`${flag}: unknown ${what} ${bad.join(', ')}; ${what}s are ${known.join(', ')}`);
  return items as T[];
}

export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = {
    device: 'cpu', quick: false, only: [...SECTIONS], models: [], engines: [...ENGINES], threads: 2, save: true,
    jobTimeoutSeconds: 1800, help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--device': {
        const d = value();
        if (d !== 'cpu' && d !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${d}`);
        a.device = d;
        break;
      }
      case '--quick': a.quick = true; break;
      case '--only': a.only = listOf(flag, value(), SECTIONS, 'section'); break;
      case '--models': a.models = list(value()); break;
      case '--engines': a.engines = listOf(flag, value(), ENGINES, 'engine'); break;
      case '--no-peers': a.engines = ['gpuformer']; break;
      case '--threads': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error(`--threads must be a positive integer, got ${argv[i]}`);
        a.threads = n;
        break;
      }
      case '--no-save': a.save = false; break;
      case '--out': a.outDir = value(); break;
      case '--job-timeout': {
        const n = Number(value());
        if (!(n > 0)) throw new Error(`--job-timeout must be a positive number of seconds, got ${argv[i]}`);
        a.jobTimeoutSeconds = n;
        break;
      }
      case '--note': a.note = value(); break;
      case '--help': case '-h': a.help = true; break;
      default: throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return a;
}
