export * from './sim-cluster.js';
export * from './sim-network.js';
