// The native-against-reference comparison and the seeded generator live in src/fuzz (the fuzzer
// uses them too); tests import them from here.
export { differences, mismatch, type Case } from '../../src/fuzz/differential';
export { random } from '../../src/fuzz/random';
