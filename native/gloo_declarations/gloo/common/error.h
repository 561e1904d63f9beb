#pragma once
// Nothing of it is used by the declarations of ProcessGroupGloo.hpp (see ../../README.md).
