// Learned components for hybrid models.
export * as nn from './nn';
export { Mlp, type MlpOptions, type Activation } from './mlp';
