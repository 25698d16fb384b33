// The execution hook (trace.ts): while a tracer is installed every primitive computes through
// it, every host upload and every host read is reported; removed, nothing is reported.

import { describe, expect, it } from 'vitest';
import * as T from '@tapegrad/tensor';
import type { Backend, ExecutionTracer, Storage, Tensor } from '@tapegrad/tensor';

function recordingTracer() {
  const log: string[] = [];
  const tracer: ExecutionTracer = {
    primitive(op: string, backend: Backend, inputs: readonly Tensor[], compute: (b: Backend) => Storage) {
      log.push(`prim ${op} [${inputs.map((t) => t.shape.join('x')).join(', ')}]`);
      // hand compute a proxy that logs the backend methods it calls
      const proxy = new Proxy(backend, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver);
          if (typeof v !== 'function') return v;
          return (...args: unknown[]) => {
            log.push(`  backend.${String(prop)}`);
            return v.apply(target, args);
          };
        },
      });
      return compute(proxy);
    },
    uploaded(_b: Backend, _s: Storage, values: Float32Array | Float64Array, size: number) {
      log.push(`upload ${size}: ${Array.from(values.subarray(0, size)).join(',')}`);
    },
    read(op: string, t: Tensor) {
      log.push(`read ${op} #${t.id}`);
      if (t.shape.length === 1 && t.shape[0] === 3) throw T.opError(op, 'refused');
    },
  };
  return { log, tracer };
}

describe('execution hook', () => {
  it('reports primitives with the backend calls their compute makes, uploads and reads; removal stops it', async () => {
    const x = T.tensor([1, 2, 3]);
    const { log, tracer } = recordingTracer();
    expect(T.setExecutionTracer(tracer)).toBeNull();
    let y: Tensor;
    let z: Tensor;
    try {
      y = T.tidy(() => T.exp(T.mul(x, 2))); // the 2 is uploaded
      z = T.reshape(y, [3, 1]); // a view: no primitive compute, no backend call
      expect(() => y.dataSync()).toThrow(/^dataSync: refused/);
      expect(() => y.data()).toThrow(/^data: refused/); // synchronously, before any promise
      expect(z.dataSync().length).toBe(3); // shape [3, 1]: allowed by this tracer
    } finally {
      expect(T.setExecutionTracer(null)).toBe(tracer);
    }
    expect(log).toEqual([
      'upload 1: 2',
      'prim mul [3, ]',
      '  backend.binary',
      'prim exp [3]',
      '  backend.unary',
      `read dataSync #${y.id}`,
      `read data #${y.id}`,
      `read dataSync #${z.id}`,
    ]);
    const n = log.length;
    T.dispose(T.tidy(() => T.add(x, 1)));
    expect(Array.from(await y.data())).toEqual([2, 4, 6].map((v) => Math.fround(Math.exp(v))));
    expect(log.length).toBe(n);
    expect(T.executionTracer()).toBeNull();
    T.dispose([x, y, z]);
  });

  it('storage helpers: viewOf shares the buffer, holdStorage keeps it alive without a tensor', () => {
    const x = T.tensor([1, 2, 3, 4]);
    const before = T.memory();
    const v = T.viewOf(x, [2, 2]);
    expect(T.memory().tensors).toBe(before.tensors + 1);
    expect(T.memory().buffers).toBe(before.buffers);
    const h = T.holdStorage(x);
    x.dispose();
    v.dispose();
    expect(T.memory().buffers).toBe(before.buffers); // still held
    expect(Array.from(h.storage as Float32Array)).toEqual([1, 2, 3, 4]);
    h.release();
    h.release(); // once only
    expect(T.memory().buffers).toBe(before.buffers - 1);
    expect(() => T.viewOf(x, [4])).toThrow(/^viewOf: tensor #\d+ of shape \[4\] was already disposed/);
  });
});
