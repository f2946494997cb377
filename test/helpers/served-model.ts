/**
 * A real model loaded on the CPU and served over HTTP on loopback for the tests of one describe block: loaded
 * and listening in beforeAll, closed and disposed in afterAll. Read its fields inside the tests (they are set
 * once beforeAll has run).
 */
import { Engine } from '../../lib/engine/engine';
import type { LoadOptions } from '../../lib/engine/options';
import { OpenAIServer } from '../../lib/server/server';

export interface ServedModel {
  engine: Engine;
  server: OpenAIServer;
  /** the server's origin, e.g. http://127.0.0.1:PORT (routes such as /v1/embeddings and /health go after it) */
  base: string;
}

export function serveModel(model: string, load: LoadOptions, modelId: string): ServedModel {
  const served = {} as ServedModel;
  beforeAll(async () => {
    served.engine = await Engine.load(model, { device: 'cpu', ...load });
    served.server = new OpenAIServer(served.engine, { modelId, port: 0 });
    await served.server.listen();
    served.base = served.server.url.replace(/\/v1$/, '');
  });
  afterAll(async () => {
    await served.server?.close();
    await served.engine?.dispose();
  });
  return served;
}
