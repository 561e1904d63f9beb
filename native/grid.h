// Kernels of the grid primitives (registry group 'grid'): arrays of rank 1 to 3 per sample, with or
// without a leading batch dimension. Axes arrive as negative torch dimensions and ranks as
// attributes (the compiler decides both), so every kernel serves batched and unbatched values.
#pragma once
#include "kernels.h"

namespace nc {

NC_KERNEL(roll);
NC_KERNEL(pad_edge);
NC_KERNEL(pad_wrap);
NC_KERNEL(pad_const);
NC_KERNEL(laplacian);
NC_KERNEL(diff);
NC_KERNEL(central_diff);
NC_KERNEL(slice);
NC_KERNEL(concat);
NC_KERNEL(sum_all);
NC_KERNEL(mean_all);
NC_KERNEL(max_all);
NC_KERNEL(min_all);

}  // namespace nc
