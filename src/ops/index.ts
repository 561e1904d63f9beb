export * from './registry';
export * from './shape';
export * from './scalar';
