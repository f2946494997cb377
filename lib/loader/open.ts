/**
 * openModel: one entry point for every way a user names a model. A .gguf file goes to the GGUF reader, a
 * directory to the Hugging Face directory reader, and an 'org/name' that is not a path on disk is pulled
 * from the hub into the standard cache first. Each yields the same ModelSource; nothing is allocated.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { inputError } from '../errors';
import type { ModelSource } from '../core/source';
import { CONFIG_SHAPES, hasSafetensors, openModelDirectory } from './directory';
import { openGguf } from './gguf';
import { DownloadProgress, PullOptions, isHubId, pull } from './hub';
import { openRemoteForPlanning } from './remote';

export interface OpenOptions extends Omit<PullOptions, 'onProgress'> {
  /** download progress, for hub ids that are not fully cached */
  onProgress?: (p: DownloadProgress) => void;
}

/**
 * Opens a model directory, a .gguf file, or a hub id ('org/name', downloaded into the Hugging Face cache
 * unless there already; `opts` are the pull options). Reads configs and tensor headers only.
 */
export async function openModel(pathOrHubId: string, opts: OpenOptions = {}): Promise<ModelSource> {
  if (typeof pathOrHubId !== 'string' || pathOrHubId === '') throw inputError('openModel: expected a directory, a .gguf file or a hub id');
  const stat = await fsp.stat(pathOrHubId).catch(() => null);
  if (stat) return openLocal(pathOrHubId, stat.isDirectory());
  if (isHubId(pathOrHubId)) {
    const pulled = await pull(pathOrHubId, opts);
    const gguf = pulled.files.filter((f) => f.endsWith('.gguf'));
    if (gguf.length === 1 && !pulled.files.includes('config.json')) return openGguf(path.join(pulled.dir, gguf[0]));
    return openModelDirectory(pulled.dir);
  }
  throw inputError(`'${pathOrHubId}' is not a file or directory here, nor a hub id ('org/name')`);
}

/**
 * Opens a model for planning alone (gpuformer inspect), as openModel does except that nothing large is read
 * or downloaded: a directory holding config.json but no weights (or only their index) is described from the config's shapes, and
 * a hub id from its config.json and its weight files' headers, read with HTTP range requests (the weights are
 * never fetched: lib/loader/remote.ts). The result may be planned, not loaded (ModelSource.planOnly).
 */
export async function openForPlanning(pathOrHubId: string, opts: OpenOptions = {}): Promise<ModelSource> {
  if (typeof pathOrHubId !== 'string' || pathOrHubId === '') throw inputError('openForPlanning: expected a directory, a .gguf file or a hub id');
  const stat = await fsp.stat(pathOrHubId).catch(() => null);
  if (stat) return openLocal(pathOrHubId, stat.isDirectory(), true);
  if (isHubId(pathOrHubId)) return openRemoteForPlanning(pathOrHubId, opts, (dir) => openLocal(dir, true, true));
  throw inputError(`'${pathOrHubId}' is not a file or directory here, nor a hub id ('org/name')`);
}

async function openLocal(p: string, isDirectory: boolean, planning = false): Promise<ModelSource> {
  if (!isDirectory) {
    if (p.toLowerCase().endsWith('.gguf')) return openGguf(p);
    throw inputError(`'${p}' is a file but not a .gguf file; pass a model directory (with config.json) or a .gguf file`);
  }
  // a directory with one GGUF file and no config.json (a downloaded GGUF repo) opens that file
  const entries = await fsp.readdir(p);
  if (!entries.includes('config.json')) {
    const gguf = entries.filter((e) => e.toLowerCase().endsWith('.gguf'));
    if (gguf.length === 1) return openGguf(path.join(p, gguf[0]));
    if (gguf.length > 1) throw inputError(`'${p}' holds several .gguf files (${gguf.join(', ')}); pass the one to load`);
  }
  if (planning && entries.includes('config.json') && !(await hasSafetensors(p))) return openModelDirectory(p, CONFIG_SHAPES);
  return openModelDirectory(p);
}
