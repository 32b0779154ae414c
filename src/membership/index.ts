export * from './cluster-state.js';
export * from './member-table.js';
export * from './member-wire.js';
