#pragma once
// Only held by smart pointer in ProcessGroupGloo's declarations. See ../../README.md.
namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
