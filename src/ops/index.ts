export * from './registry';
export * from './shape';
