/**
 * The report's PNG plots, drawn headless: a Vega-Lite spec → Vega → SVG → PNG (resvg, with the system's
 * fonts). Two per run: embedding throughput against batch size, and latency / throughput against the
 * number of concurrent streams.
 */
import { importEsm } from '../peers/esm';
import type { RunRecord } from './markdown';

type Spec = Record<string, unknown>;

const ENGINE_COLORS = {
  domain: ['gpuformer', 'transformers.js', 'node-llama-cpp', 'pytorch'],
  range: ['#d62728', '#1f77b4', '#2ca02c', '#9467bd'],
};

/** Embedding points of a run as flat rows for Vega-Lite; empty if the run embedded nothing. */
export function embedRows(run: RunRecord): Array<Record<string, unknown>> {
  return run.results.filter((r) => r.ok && r.embed).flatMap((r) => r.embed!.map((p) => ({
    model: r.model.id, engine: r.engine, batch: p.batch, input: `${p.length} inputs`, sentencesPerSec: p.sentencesPerSec,
  })));
}

export function concurrencyRows(run: RunRecord): Array<Record<string, unknown>> {
  return run.results.filter((r) => r.ok && r.concurrency).flatMap((r) => r.concurrency!.flatMap((c) => [
    { model: r.model.id, engine: r.engine, streams: c.concurrency, metric: 'TTFT p50 (ms)', value: c.ttftMs.median },
    { model: r.model.id, engine: r.engine, streams: c.concurrency, metric: 'inter-token p50 (ms)', value: c.interTokenMs.median },
    { model: r.model.id, engine: r.engine, streams: c.concurrency, metric: 'tokens/s, all streams', value: c.tokensPerSec },
  ]));
}

export function embedSpec(run: RunRecord, title: string): Spec | null {
  return facetedLines(embedRows(run), 'Embedding throughput against batch size', title, {
    column: 'input', size: [260, 180],
    x: { field: 'batch', title: 'batch size' },
    y: { field: 'sentencesPerSec', type: 'quantitative', scale: { type: 'log' }, title: 'sentences/s' },
  });
}

export function concurrencySpec(run: RunRecord, title: string): Spec | null {
  return facetedLines(concurrencyRows(run), 'Latency and throughput against concurrent streams', title, {
    column: 'metric', size: [220, 160],
    x: { field: 'streams', title: 'concurrent streams' },
    y: { field: 'value', type: 'quantitative', title: null },
  });
}

/**
 * One line per engine against a log2 x axis, in a grid of models (rows) × `column` (columns), each panel
 * with its own y scale; null when there is nothing to plot.
 */
function facetedLines(values: Array<Record<string, unknown>>, text: string, subtitle: string, o: {
  column: string; size: [number, number]; x: { field: string; title: string }; y: Record<string, unknown>;
}): Spec | null {
  if (values.length === 0) return null;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text, subtitle },
    data: { values },
    facet: { row: { field: 'model', type: 'nominal', title: null }, column: { field: o.column, type: 'nominal', title: null } },
    spec: {
      width: o.size[0], height: o.size[1],
      mark: { type: 'line', point: true },
      encoding: {
        x: { ...o.x, type: 'quantitative', scale: { type: 'log', base: 2 } },
        y: o.y,
        color: { field: 'engine', type: 'nominal', scale: ENGINE_COLORS },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { font: 'DejaVu Sans' },
  };
}

/** Vega-Lite spec → PNG bytes. */
export async function renderPng(spec: Spec): Promise<Buffer> {
  const vl = await importEsm('vega-lite');
  const vega = await importEsm('vega');
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg: string = await view.toSVG();
  view.finalize();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { Resvg } = require('@resvg/resvg-js');
  const png = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  }).render().asPng();
  return Buffer.from(png);
}
