// The kernel attributes of the grid primitives, from argument shapes and constants the shape rule
// has already checked. An axis a of a rank-r value becomes the torch dimension a - r, which counts
// from the end and so is the same for a batched and an unbatched tensor.
import { sliceBounds, type Shape } from '../ops';

export function gridAttrs(name: string, shapes: Shape[], consts: (number | undefined)[]): number[] {
  const at = (i: number) => consts[i]!;
  const rank = shapes[name === 'concat' ? 1 : 0].length;
  const dim = (i: number) => at(i) - rank;
  switch (name) {
    case 'roll':
      return [at(1), dim(2)];
    case 'pad-edge':
    case 'pad-wrap':
    case 'pad-const':
      return [at(1), rank];
    case 'diff':
    case 'central-diff':
      return [dim(1)];
    case 'slice': {
      const { start, length } = sliceBounds(shapes[0][at(1)], at(2), at(3));
      return [dim(1), start, length];
    }
    case 'concat':
      return [dim(0), rank];
    default: // laplacian, conv and the reductions over every axis
      return [rank];
  }
}
