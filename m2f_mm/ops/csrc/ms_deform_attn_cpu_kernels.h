// The kernels of ms_deform_attn_cpu.cpp, included there once per instruction set:
// no includes and no namespace of their own (see the .cpp for the layouts).

// The corners of one sample: row offsets into the value table (-1: off the
// level) and bilinear weights, in the order (x0, y0), (x0 + 1, y0),
// (x0, y0 + 1), (x0 + 1, y0 + 1).
template <typename scalar_t>
struct Corners {
  int64_t row[4];
  scalar_t weight[4];
  scalar_t fx, fy;
  bool touches_level;
};

// Inlined into the sample loops: called, its struct return through memory
// cost a quarter of the forward.
template <typename scalar_t>
M2F_MM_ALWAYS_INLINE Corners<scalar_t> corners_of(scalar_t x_norm, scalar_t y_norm, int64_t h,
                                                  int64_t w, int64_t level_start) {
  Corners<scalar_t> c;
  const scalar_t x = x_norm * static_cast<scalar_t>(w) - scalar_t(0.5);
  const scalar_t y = y_norm * static_cast<scalar_t>(h) - scalar_t(0.5);
  const scalar_t x0f = std::floor(x), y0f = std::floor(y);
  c.touches_level = x0f >= -1 && x0f < w && y0f >= -1 && y0f < h;
  if (!c.touches_level) return c;
  const int64_t x0 = static_cast<int64_t>(x0f), y0 = static_cast<int64_t>(y0f);
  c.fx = x - x0f;
  c.fy = y - y0f;
  const scalar_t gx[2] = {1 - c.fx, c.fx}, gy[2] = {1 - c.fy, c.fy};
  for (int k = 0; k < 4; ++k) {
    const int64_t xi = x0 + (k & 1), yi = y0 + (k >> 1);
    const bool on_level = xi >= 0 && xi < w && yi >= 0 && yi < h;
    c.row[k] = on_level ? level_start + yi * w + xi : -1;
    c.weight[k] = gx[k & 1] * gy[k >> 1];
  }
  return c;
}

// The channel loops below take the channel count as a compile-time constant
// where it is the common one (kChannels > 0): a row's running sums and the
// output gradient row then stay in registers across its samples. kChannels = 0
// reads it from the geometry, for any other count.
template <typename scalar_t, int64_t kChannels>
void forward_rows(const Geometry& g, const scalar_t* value, const scalar_t* loc,
                  const scalar_t* attn, scalar_t* out) {
  const int64_t channels = kChannels > 0 ? kChannels : g.channels;
  const int64_t row_stride = g.heads * channels;  // between value positions
  const int64_t samples = g.levels * g.points;
  at::parallel_for(0, g.batch * g.queries, 16, [&](int64_t begin, int64_t end) {
    for (int64_t bq = begin; bq < end; ++bq) {
      const int64_t b = bq / g.queries;
      for (int64_t n = 0; n < g.heads; ++n) {
        const int64_t m = bq * g.heads + n;  // (b, q, n) row
        scalar_t* o = out + m * channels;
        scalar_t local[kChannels > 0 ? kChannels : 1];
        scalar_t* sum = kChannels > 0 ? local : o;
        for (int64_t c = 0; c < channels; ++c) sum[c] = 0;
        const scalar_t* v = value + (b * g.spatial * g.heads + n) * channels;
        for (int64_t l = 0, j = 0; l < g.levels; ++l) {
          const int64_t h = g.height[l], w = g.width[l], start = g.start[l];
          for (int64_t p = 0; p < g.points; ++p, ++j) {
            const int64_t i = m * samples + j;
            const auto cs = corners_of<scalar_t>(loc[2 * i], loc[2 * i + 1], h, w, start);
            if (!cs.touches_level) continue;
            const scalar_t a = attn[i];
            for (int k = 0; k < 4; ++k) {
              if (cs.row[k] < 0) continue;
              const scalar_t wk = a * cs.weight[k];
              const scalar_t* vr = v + cs.row[k] * row_stride;
#pragma omp simd
              for (int64_t c = 0; c < channels; ++c) sum[c] += wk * vr[c];
            }
          }
        }
        if (kChannels > 0)
          for (int64_t c = 0; c < channels; ++c) o[c] = local[c];
      }
    }
  });
}

template <typename scalar_t, int64_t kChannels>
void backward_rows(const Geometry& g, const scalar_t* value, const scalar_t* loc,
                   const scalar_t* attn, const scalar_t* grad_out, scalar_t* grad_value,
                   scalar_t* grad_loc, scalar_t* grad_attn) {
  const int64_t channels = kChannels > 0 ? kChannels : g.channels;
  const int64_t row_stride = g.heads * channels;
  const int64_t samples = g.levels * g.points;
  at::parallel_for(0, g.batch * g.heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bn = begin; bn < end; ++bn) {
      const int64_t b = bn / g.heads, n = bn % g.heads;
      const int64_t plane = (b * g.spatial * g.heads + n) * channels;
      const scalar_t* v = value + plane;
      scalar_t* gv = grad_value + plane;
      for (int64_t q = 0; q < g.queries; ++q) {
        const int64_t m = (b * g.queries + q) * g.heads + n;
        scalar_t local[kChannels > 0 ? kChannels : 1];
        const scalar_t* go = grad_out + m * channels;
        if (kChannels > 0) {
          for (int64_t c = 0; c < channels; ++c) local[c] = go[c];
          go = local;
        }
        for (int64_t l = 0, j = 0; l < g.levels; ++l) {
          const int64_t h = g.height[l], w = g.width[l], start = g.start[l];
          for (int64_t p = 0; p < g.points; ++p, ++j) {
            const int64_t i = m * samples + j;
            const auto cs = corners_of<scalar_t>(loc[2 * i], loc[2 * i + 1], h, w, start);
            if (!cs.touches_level) {
              grad_loc[2 * i] = grad_loc[2 * i + 1] = grad_attn[i] = 0;
              continue;
            }
            const scalar_t a = attn[i];
            scalar_t dot[4] = {0, 0, 0, 0};  // grad_out . corner row
            for (int k = 0; k < 4; ++k) {
              if (cs.row[k] < 0) continue;
              const scalar_t* vr = v + cs.row[k] * row_stride;
              scalar_t* gr = gv + cs.row[k] * row_stride;
              const scalar_t wk = a * cs.weight[k];
              scalar_t d = 0;
#pragma omp simd reduction(+ : d)
              for (int64_t c = 0; c < channels; ++c) d += go[c] * vr[c];
#pragma omp simd
              for (int64_t c = 0; c < channels; ++c) gr[c] += wk * go[c];
              dot[k] = d;
            }
            grad_attn[i] = cs.weight[0] * dot[0] + cs.weight[1] * dot[1] +
                           cs.weight[2] * dot[2] + cs.weight[3] * dot[3];
            // d/dfx and d/dfy of the bilinear weights, chained to the normalised
            // coordinates (x = x_norm * W - 0.5).
            const scalar_t dfx = (1 - cs.fy) * (dot[1] - dot[0]) + cs.fy * (dot[3] - dot[2]);
            const scalar_t dfy = (1 - cs.fx) * (dot[2] - dot[0]) + cs.fx * (dot[3] - dot[1]);
            grad_loc[2 * i] = a * dfx * static_cast<scalar_t>(w);
            grad_loc[2 * i + 1] = a * dfy * static_cast<scalar_t>(h);
          }
        }
      }
    }
  });
}

// Mask2Former's pixel decoder: 256 channels over 8 heads.
constexpr int64_t kCommonChannels = 32;

template <typename scalar_t>
void forward_kernel(const Geometry& g, const scalar_t* value, const scalar_t* loc,
                    const scalar_t* attn, scalar_t* out) {
  if (g.channels == kCommonChannels)
    forward_rows<scalar_t, kCommonChannels>(g, value, loc, attn, out);
  else
    forward_rows<scalar_t, 0>(g, value, loc, attn, out);
}

template <typename scalar_t>
void backward_kernel(const Geometry& g, const scalar_t* value, const scalar_t* loc,
                     const scalar_t* attn, const scalar_t* grad_out, scalar_t* grad_value,
                     scalar_t* grad_loc, scalar_t* grad_attn) {
  if (g.channels == kCommonChannels)
    backward_rows<scalar_t, kCommonChannels>(g, value, loc, attn, grad_out, grad_value,
                                             grad_loc, grad_attn);
  else
    backward_rows<scalar_t, 0>(g, value, loc, attn, grad_out, grad_value, grad_loc,
                               grad_attn);
}
