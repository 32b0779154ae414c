export * from './hash.js';
export * from './ring.js';
