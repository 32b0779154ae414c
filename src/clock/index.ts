export * from './causal-record.js';
export * from './context.js';
export * from './version-digest.js';
export * from './version-vector.js';
