/**
 * `Promise.withResolvers` (ES2024; Node 22 has it, Node 20 does not): a promise and the functions
 * that settle it. Hot paths use it instead of an executor closure holding their logic, which V8
 * recompiled again and again when such closures were made per request.
 */
export function withResolvers<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (reason: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
