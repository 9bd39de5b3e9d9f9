// Multi-scale deformable attention on the CPU: one fused pass per direction.
//
// Shape letters: B batch, Q queries, S = sum_l H_l * W_l value positions, N
// heads, C channels per head, L levels, P sampling points per head and level.
//
// Layouts (all contiguous): value (B, S, N, C); spatial_shapes (L, 2) int64
// (H_l, W_l); level_start_index (L,) int64; sampling_locations
// (B, Q, N, L, P, 2) normalised (x, y); attention_weights (B, Q, N, L, P);
// output and its gradient (B, Q, N, C).
//
// The sampling rule is that of m2f_mm.ops.ms_deform_attn_pytorch: pixel
// units x = x_norm * W - 0.5, bilinear corners at floor(x), floor(x) + 1;
// corners off the level read zero, and a sample whose 2x2 neighbourhood
// misses the level contributes nothing, gradients included.
//
// The PyTorch path gathers every corner row into memory and multiplies and
// sums in separate passes; here each sample reads its four corner rows once,
// in cache. The backward splits work by (image, head): those own disjoint
// slices of the value gradient, so its scatter needs no atomics.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <cmath>
#include <vector>

#if defined(__GNUC__)
#define M2F_MM_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define M2F_MM_ALWAYS_INLINE inline
#endif

namespace {

// What a worker needs to walk the samples of one (image, query, head).
struct Geometry {
  int64_t batch, spatial, queries, heads, channels, levels, points;
  std::vector<int64_t> height, width, start;
};

Geometry geometry(const at::Tensor& value, const at::Tensor& spatial_shapes,
                  const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                  const at::Tensor& attention_weights) {
  TORCH_CHECK(value.dim() == 4, "value must be (B, S, N, C)");
  TORCH_CHECK(sampling_locations.dim() == 6, "sampling_locations must be (B, Q, N, L, P, 2)");
  Geometry g;
  g.batch = value.size(0);
  g.spatial = value.size(1);
  g.heads = value.size(2);
  g.channels = value.size(3);
  g.queries = sampling_locations.size(1);
  g.levels = sampling_locations.size(3);
  g.points = sampling_locations.size(4);
  TORCH_CHECK(sampling_locations.size(0) == g.batch && sampling_locations.size(2) == g.heads &&
                  sampling_locations.size(5) == 2,
              "sampling_locations must be (B, Q, N, L, P, 2) for value (B, S, N, C)");
  TORCH_CHECK(spatial_shapes.dim() == 2 && spatial_shapes.size(0) == g.levels &&
                  level_start_index.numel() == g.levels,
              "spatial_shapes (L, 2) and level_start_index (L,) must match the L of the locations");
  TORCH_CHECK(attention_weights.numel() * 2 == sampling_locations.numel(),
              "attention_weights must be (B, Q, N, L, P)");
  const auto shapes = spatial_shapes.to(at::kLong).contiguous();
  const auto starts = level_start_index.to(at::kLong).contiguous();
  const int64_t* s = shapes.data_ptr<int64_t>();
  const int64_t* start = starts.data_ptr<int64_t>();
  for (int64_t l = 0; l < g.levels; ++l) {
    g.height.push_back(s[2 * l]);
    g.width.push_back(s[2 * l + 1]);
    g.start.push_back(start[l]);
  }
  return g;
}

// One copy of the kernels for any x86-64 (or other) CPU, and one compiled for
// AVX2 + FMA, chosen at run time: the channel loops run 2 to 3 times faster
// with 256-bit vectors, and a wheel must still run on CPUs without them.
namespace baseline {
#include "ms_deform_attn_cpu_kernels.h"
}  // namespace baseline

#if defined(__GNUC__) && defined(__x86_64__)
#define M2F_MM_HAVE_AVX2_KERNELS 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#include "ms_deform_attn_cpu_kernels.h"
}  // namespace avx2
#pragma GCC pop_options
#endif

bool avx2_supported() {
#ifdef M2F_MM_HAVE_AVX2_KERNELS
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
#else
  return false;
#endif
}

// The kernels to run: the AVX2 copy where it was compiled, the CPU has it and
// the caller allows it; else the baseline copy.
template <typename scalar_t>
auto forward_kernel_for(bool allow_avx2) {
#ifdef M2F_MM_HAVE_AVX2_KERNELS
  if (allow_avx2 && avx2_supported()) return avx2::forward_kernel<scalar_t>;
#endif
  return baseline::forward_kernel<scalar_t>;
}

template <typename scalar_t>
auto backward_kernel_for(bool allow_avx2) {
#ifdef M2F_MM_HAVE_AVX2_KERNELS
  if (allow_avx2 && avx2_supported()) return avx2::backward_kernel<scalar_t>;
#endif
  return baseline::backward_kernel<scalar_t>;
}

void check_inputs(const std::vector<at::Tensor>& tensors) {
  for (const auto& t : tensors) {
    TORCH_CHECK(t.device().is_cpu(), "m2f_mm ms_deform_attn_cpu: tensors must be on the CPU");
    TORCH_CHECK(t.is_contiguous(), "m2f_mm ms_deform_attn_cpu: tensors must be contiguous");
    TORCH_CHECK(t.scalar_type() == tensors[0].scalar_type(),
                "m2f_mm ms_deform_attn_cpu: value, locations and weights need one dtype");
  }
}

}  // namespace

// (B, S, N, C), ..., -> (B, Q, N * C)
at::Tensor ms_deform_attn_forward(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                  const at::Tensor& level_start_index,
                                  const at::Tensor& sampling_locations,
                                  const at::Tensor& attention_weights, bool allow_avx2) {
  check_inputs({value, sampling_locations, attention_weights});
  const Geometry g = geometry(value, spatial_shapes, level_start_index, sampling_locations,
                              attention_weights);
  auto out = at::empty({g.batch, g.queries, g.heads * g.channels}, value.options());
  AT_DISPATCH_FLOATING_TYPES(value.scalar_type(), "ms_deform_attn_forward_cpu", [&] {
    forward_kernel_for<scalar_t>(allow_avx2)(g, value.data_ptr<scalar_t>(), sampling_locations.data_ptr<scalar_t>(),
           attention_weights.data_ptr<scalar_t>(), out.data_ptr<scalar_t>());
  });
  return out;
}

// -> (grad_value, grad_sampling_locations, grad_attention_weights)
std::vector<at::Tensor> ms_deform_attn_backward(const at::Tensor& value,
                                                const at::Tensor& spatial_shapes,
                                                const at::Tensor& level_start_index,
                                                const at::Tensor& sampling_locations,
                                                const at::Tensor& attention_weights,
                                                const at::Tensor& grad_output,
                                                bool allow_avx2) {
  check_inputs({value, sampling_locations, attention_weights, grad_output});
  const Geometry g = geometry(value, spatial_shapes, level_start_index, sampling_locations,
                              attention_weights);
  TORCH_CHECK(grad_output.numel() == g.batch * g.queries * g.heads * g.channels,
              "grad_output must be (B, Q, N * C)");
  auto grad_value = at::zeros_like(value);
  auto grad_loc = at::empty_like(sampling_locations);
  auto grad_attn = at::empty_like(attention_weights);
  AT_DISPATCH_FLOATING_TYPES(value.scalar_type(), "ms_deform_attn_backward_cpu", [&] {
    backward_kernel_for<scalar_t>(allow_avx2)(g, value.data_ptr<scalar_t>(), sampling_locations.data_ptr<scalar_t>(),
           attention_weights.data_ptr<scalar_t>(), grad_output.data_ptr<scalar_t>(),
           grad_value.data_ptr<scalar_t>(), grad_loc.data_ptr<scalar_t>(),
           grad_attn.data_ptr<scalar_t>());
  });
  return {grad_value, grad_loc, grad_attn};
}

// allow_avx2=False runs the baseline kernels on any CPU (the tests compare both).
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &ms_deform_attn_forward, "multi-scale deformable attention, CPU forward",
        py::arg("value"), py::arg("spatial_shapes"), py::arg("level_start_index"),
        py::arg("sampling_locations"), py::arg("attention_weights"),
        py::arg("allow_avx2") = true);
  m.def("backward", &ms_deform_attn_backward, "multi-scale deformable attention, CPU backward",
        py::arg("value"), py::arg("spatial_shapes"), py::arg("level_start_index"),
        py::arg("sampling_locations"), py::arg("attention_weights"), py::arg("grad_output"),
        py::arg("allow_avx2") = true);
  m.def("avx2_supported", &avx2_supported, "whether the AVX2 + FMA kernels run on this CPU");
}
