// Saving and loading models.
export { save, load, type LoadOptions } from './model-file';
export { ModelFileError } from './container';
export type { Bundle, Component, Model } from './records';
