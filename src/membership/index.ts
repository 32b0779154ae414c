export * from './cluster-state.js';
export * from './failure-detector.js';
export * from './gossip-delta.js';
export * from './member-table.js';
export * from './member-wire.js';
