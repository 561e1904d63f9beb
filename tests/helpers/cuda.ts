// What asking for a CUDA device says on this build, for the tests that run on CPU and CUDA builds alike.
import { native } from '../../src/runtime/native';

/** The build has CUDA compiled in (it may still see no device). */
export const cudaBuilt = (): boolean => native().buildInfo().cudaBuilt;

/** The error of device 'cuda' where no device can be used: no CUDA in the build, or none visible. */
export const noCudaDevice = (): RegExp =>
  cudaBuilt()
    ? /device 'cuda(:\d+)?' was requested: this build has CUDA, but no CUDA device is visible/
    : /device 'cuda(:\d+)?' was requested, but this build of libtorch has no CUDA support.*NC_TORCH=cuda npm install/;
