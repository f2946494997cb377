/** The memory plan as an aligned text report: what `gpuformer inspect DIR` prints. */
import { formatBytes, formatCount } from './format';
import type { MemoryPlan, ParamGroup } from './planner';

const GROUP_LABELS: Record<ParamGroup, string> = {
  tokenEmbedding: 'token embedding',
  positionEmbedding: 'position + type embedding',
  attention: 'attention',
  mlp: 'MLP',
  norms: 'norms',
  lmHead: 'LM head',
  classifier: 'pooler + classifier',
  other: 'other',
};

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ').trimEnd());
}

/** The plan as an aligned text report; `title` (e.g. the model path and architecture) heads it. */
export function formatPlan(plan: MemoryPlan, title?: string): string {
  const lines: string[] = [];
  if (title) lines.push(title, '');
  lines.push(`device ${plan.device}, budget ${formatBytes(plan.budget.bytes)} (${plan.budget.source})`);
  lines.push(`weights in ${plan.dtypes.weights}; activations and KV cache in ${plan.dtypes.activations}`, '');

  const rows: string[][] = [['parameters', 'count', 'bytes']];
  for (const [group, g] of Object.entries(plan.params.groups) as Array<[ParamGroup, { params: number; bytes: number; tensors: number }]>) {
    if (g.tensors === 0 && !(group === 'lmHead' && plan.params.tiedLmHead)) continue;
    if (group === 'lmHead' && plan.params.tiedLmHead) rows.push(['  LM head', 'tied to token embedding', '0 B']);
    else rows.push([`  ${GROUP_LABELS[group]}`, formatCount(g.params), formatBytes(g.bytes)]);
  }
  rows.push(['  total', formatCount(plan.params.count), formatBytes(plan.params.bytes)]);
  lines.push(...table(rows), '');

  lines.push(`workspace   ${formatBytes(plan.workspace.bytes)} (steps of up to ${plan.workspace.maxNumBatchedTokens} tokens, ` +
    `${plan.workspace.maxNumSeqs} sequences)`);
  if (plan.kv.bytesPerToken > 0) {
    lines.push(`KV cache    ${formatBytes(plan.kv.bytesPerToken)} per token, ${formatBytes(plan.kv.blockBytes)} per block of ` +
      `${plan.kv.blockSize}; ${plan.kv.blocks} blocks = ${plan.kv.tokens} tokens, ${formatBytes(plan.kv.bytes)}` +
      `${plan.device === 'cpu' ? ' at most (the CPU commits blocks as they are first used: memory() shows how much)' : ''}`);
  } else {
    lines.push('KV cache    none (encoder)');
  }
  const from = { option: 'as asked', config: "the model's position limit", memory: 'capped by the memory left for the KV cache' }[plan.maxModelLenFrom];
  const o = plan.offload;
  if (o) {
    const range = o.hostLayers.length === 1 ? `layer ${o.hostLayers[0]}` : `layers ${o.hostLayers[0]}–${o.hostLayers[o.hostLayers.length - 1]}`;
    const by = { memory: 'as many as fit', gpuLayers: 'gpuLayers', cpuOffloadBytes: 'cpuOffloadBytes' }[o.from];
    lines.push(`offload     ${o.gpuLayers} of ${o.layers} layers on the GPU (${by}); ${range} (${formatBytes(o.hostBytes)}) stream from ` +
      `pinned host memory through ${o.slots} staging slot${o.slots === 1 ? '' : 's'} of ${formatBytes(o.slotBytes)}`);
    lines.push(`            per step ${formatBytes(o.hostBytes)} host → device ÷ ${formatBytes(o.hostToDevice.bytesPerSecond)}/s ` +
      `(${o.hostToDevice.source}) = ${(o.transferSecondsPerStep * 1e3).toFixed(1)} ms of transfers`);
  }
  lines.push(`maxModelLen ${plan.maxModelLen} (${from})`);
  if (plan.kv.bytesPerToken > 0) lines.push(`sequences of maxModelLen that fit at once: ${plan.concurrentSequences}`);
  lines.push(`total       ${formatBytes(plan.totalBytes)} of ${formatBytes(plan.budget.bytes)}` +
    `${o ? ` on the device, and ${formatBytes(o.hostBytes)} of pinned host memory` : ''}`);
  if (!plan.fits) {
    lines.push('', `DOES NOT FIT: ${formatBytes(plan.shortfallBytes)} (${plan.shortfallBytes} bytes) missing. What would help:`);
    for (const a of plan.advice) lines.push(`  - ${a}`);
  }
  return lines.join('\n');
}
