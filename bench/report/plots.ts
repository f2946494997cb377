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
  const values = embedRows(run);
  if (values.length === 0) return null;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Embedding throughput against batch size', subtitle: title },
    data: { values },
    facet: { row: { field: 'model', type: 'nominal', title: null }, column: { field: 'input', type: 'nominal', title: null } },
    spec: {
      width: 260, height: 180,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'batch', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'batch size' },
        y: { field: 'sentencesPerSec', type: 'quantitative', scale: { type: 'log' }, title: 'sentences/s' },
        color: { field: 'engine', type: 'nominal', scale: ENGINE_COLORS },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { font: 'DejaVu Sans' },
  };
}

export function concurrencySpec(run: RunRecord, title: string): Spec | null {
  const values = concurrencyRows(run);
  if (values.length === 0) return null;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Latency and throughput against concurrent streams', subtitle: title },
    data: { values },
    facet: { row: { field: 'model', type: 'nominal', title: null }, column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 220, height: 160,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'streams', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'concurrent streams' },
        y: { field: 'value', type: 'quantitative', title: null },
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
