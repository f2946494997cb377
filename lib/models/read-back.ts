/** Reading a runner's results back to the host: shared by the decoder and the encoder runner. */
import { Command, Tensor } from '../native';
import { ops, run } from '../ops';

/** Runs the program and reads `t` back as f32 (casting on the device first when it is half precision). */
export async function readAsF32(prog: Command[], t: Tensor, temps: Tensor[]): Promise<Float32Array> {
  let src = t;
  if (t.dtype !== 'f32') {
    src = Tensor.empty(t.device, 'f32', t.shape, 'activations');
    temps.push(src);
    prog.push(ops.cast({ x: t, out: src }));
  }
  await run(prog);
  return new Float32Array(src.read());
}

/** Splits packed rows [T × width] into one array per sequence by cu_seqlens. */
export function splitRows(host: Float32Array, cu: Int32Array, width: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let b = 0; b + 1 < cu.length; b++) out.push(host.slice(cu[b] * width, cu[b + 1] * width));
  return out;
}
