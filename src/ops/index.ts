export * from './registry';
export * from './shape';
export { sliceBounds } from './grid-shape';
export * from './scalar';
