export * from './sim-network.js';
