// The `nn` namespace: factories of learned components.
export { mlp } from './mlp';
