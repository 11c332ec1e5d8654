#include "nn/conv.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "nn/init.h"

namespace tessera::nn {

namespace {

// Every size of one convolution, checked once.
struct ConvGeometry {
  int64_t n, c, h, w;     // input  [N, C, H, W]
  int64_t o, kh, kw;      // weight [O, C, KH, KW]
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t oh, ow;         // output [N, O, OH, OW]
  int64_t rows() const { return c * kh * kw; }  // K: rows of a column matrix, columns of W
  int64_t positions() const { return oh * ow; }  // P: output positions of one image
  // 1×1, stride 1, no padding: the column matrix of an image is the image itself, [C, H·W].
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

ConvGeometry conv_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride,
                           Size2d padding, Size2d dilation, int64_t groups) {
  TS_CHECK(groups == 1, "conv2d: groups = {} is not supported: only groups = 1 (grouped and depthwise "
           "convolutions are not implemented)", groups);
  TS_CHECK(x.dim() == 4, "conv2d: expected input [N, C, H, W], got {}", x.shape());
  TS_CHECK(weight.dim() == 4, "conv2d: expected weight [out_channels, in_channels, KH, KW], got {}", weight.shape());
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  TS_CHECK(xs[1] == ws[1], "conv2d: input {} has {} channels but weight {} expects {}", xs, xs[1], ws, ws[1]);
  if (bias.defined())
    TS_CHECK(bias.shape() == Shape{ws[0]}, "conv2d: expected bias [{}] (one per output channel), got {}", ws[0],
             bias.shape());
  TS_CHECK(stride.h >= 1 && stride.w >= 1, "conv2d: stride ({}, {}) must be positive", stride.h, stride.w);
  TS_CHECK(dilation.h >= 1 && dilation.w >= 1, "conv2d: dilation ({}, {}) must be positive", dilation.h, dilation.w);
  TS_CHECK(padding.h >= 0 && padding.w >= 0, "conv2d: padding ({}, {}) must not be negative", padding.h, padding.w);
  TS_CHECK(ws[2] >= 1 && ws[3] >= 1, "conv2d: weight {} has an empty kernel", ws);
  ConvGeometry g{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], stride.h, stride.w, padding.h, padding.w,
                 dilation.h, dilation.w, 0, 0};
  const int64_t span_h = g.dh * (g.kh - 1) + 1, span_w = g.dw * (g.kw - 1) + 1;  // the dilated kernel
  TS_CHECK(span_h <= g.h + 2 * g.ph && span_w <= g.w + 2 * g.pw,
           "conv2d: kernel {}×{} (dilated to {}×{}) is larger than the padded input {}×{} (input {}, padding ({}, {}))",
           g.kh, g.kw, span_h, span_w, g.h + 2 * g.ph, g.w + 2 * g.pw, xs, g.ph, g.pw);
  g.oh = (g.h + 2 * g.ph - span_h) / g.sh + 1;
  g.ow = (g.w + 2 * g.pw - span_w) / g.sw + 1;
  return g;
}

// Along one axis (input size `size`, output size `out`): the outputs whose tap reads inside the
// image, 0 ≤ o·stride + shift < size, are o in [begin, end); the others read padding. shift is
// i·dh − ph for kernel row i (j·dw − pw for kernel column j).
struct Range {
  int64_t begin, end;
};
Range inside(int64_t size, int64_t out, int64_t stride, int64_t shift) {
  const int64_t first = -shift, last = size - 1 - shift;  // first ≤ o·stride ≤ last
  const int64_t begin = first <= 0 ? 0 : (first + stride - 1) / stride;
  const int64_t end = last < 0 ? 0 : std::min(out, last / stride + 1);
  return {std::min(begin, end), end};
}

// One tap (i, j) of one channel: where it reads, and whether its rows run on contiguously.
struct Tap {
  Range rows, cols;            // outputs p in rows and q in cols read inside the image
  int64_t row_shift, col_shift;  // input pixel = (p·sh + row_shift, q·sw + col_shift)
  // Stride 1 and OW = W: output position d = p·W + q reads input d + offset, so the rows are one
  // contiguous run (except the columns outside `cols`, which wrap onto the neighbouring row).
  bool contiguous;
  int64_t offset;
};
Tap tap(const ConvGeometry& g, int64_t i, int64_t j) {
  Tap t;
  t.row_shift = i * g.dh - g.ph;
  t.col_shift = j * g.dw - g.pw;
  t.rows = inside(g.h, g.oh, g.sh, t.row_shift);
  t.cols = inside(g.w, g.ow, g.sw, t.col_shift);
  t.contiguous = g.sh == 1 && g.sw == 1 && g.ow == g.w;
  t.offset = t.row_shift * g.w + t.col_shift;
  return t;
}

// The taps of every kernel position (i, j), at index i·KW + j: the same for every channel, so
// worked out (with their divisions) once per im2col/col2im call, not once per channel.
std::vector<Tap> taps(const ConvGeometry& g) {
  std::vector<Tap> all;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) all.push_back(tap(g, i, j));
  return all;
}

void set_zero(scalar_t* out, int64_t begin, int64_t end) {
#pragma omp simd
  for (int64_t e = begin; e < end; ++e) out[e] = 0;
}

// Zeroes, in rows `rows` of an [OH, OW] plane, the columns outside `cols`: column by column down
// the rows, as there are only a few such columns (a loop along a row of one or two would become a
// memset call per row).
void zero_outside_columns(scalar_t* plane, const Tap& t, int64_t ow) {
  auto zero_column = [&](int64_t q) {
    for (int64_t p = t.rows.begin; p < t.rows.end; ++p) plane[p * ow + q] = 0;
  };
  for (int64_t q = 0; q < t.cols.begin; ++q) zero_column(q);
  for (int64_t q = t.cols.end; q < ow; ++q) zero_column(q);
}

// im2col for one image, channels [c0, c1):
//   col[(c·KH + i)·KW + j, p·OW + q] = x[c, p·sh − ph + i·dh, q·sw − pw + j·dw]   (0 outside)
// Every entry is written (padding as 0), so col needs no zero-fill beforehand. Rows are short
// (OW values), so stride-1 "same-width" taps copy all their rows as one run (the padding columns
// are then zeroed over what wrapped in from the neighbouring row); other taps go row by row.
// Rows of col lie ld apart (ld ≥ OH·OW: the column matrices of several images side by side).
void im2col_channels(const ConvGeometry& g, const scalar_t* x, scalar_t* col, int64_t ld, int64_t c0, int64_t c1) {
  const int64_t positions = g.positions(), ow = g.ow;
  const std::vector<Tap> all_taps = taps(g);
  for (int64_t c = c0; c < c1; ++c) {
    const scalar_t* xc = x + c * g.h * g.w;
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        scalar_t* out = col + ((c * g.kh + i) * g.kw + j) * ld;  // [OH, OW]
        const Tap& t = all_taps[i * g.kw + j];
        if (t.cols.begin == t.cols.end || t.rows.begin == t.rows.end) {
          set_zero(out, 0, positions);
          continue;
        }
        set_zero(out, 0, t.rows.begin * ow);
        set_zero(out, t.rows.end * ow, positions);
        if (t.contiguous) {
          const int64_t offset = t.offset;
#pragma omp simd
          for (int64_t d = t.rows.begin * ow + t.cols.begin; d < (t.rows.end - 1) * ow + t.cols.end; ++d)
            out[d] = xc[d + offset];
        } else {
          // Row by row. Stride 2 (the downsampling convolutions) gets its own loop: with the
          // stride a constant it vectorises (loads and a shuffle), where the general loop is a
          // scalar gather.
          const int64_t sw = g.sw, col_shift = t.col_shift, q0 = t.cols.begin, q1 = t.cols.end;
          for (int64_t p = t.rows.begin; p < t.rows.end; ++p) {
            scalar_t* out_row = out + p * ow;
            const scalar_t* x_row = xc + (p * g.sh + t.row_shift) * g.w + col_shift;
            if (sw == 2) {
#pragma omp simd
              for (int64_t q = q0; q < q1; ++q) out_row[q] = x_row[2 * q];
            } else {
              for (int64_t q = q0; q < q1; ++q) out_row[q] = x_row[q * sw];
            }
          }
        }
        zero_outside_columns(out, t, ow);
      }
  }
}

// col2im, the adjoint of im2col: each column entry is added back onto the pixel it was copied
// from (a pixel seen by several kernel positions gets the sum); entries that were padding are
// dropped. Channels [c0, c1) of dx are overwritten. col is scratch: the contiguous path zeroes
// its padding entries first, so the one-run add puts nothing on the wrapped pixels.
void col2im_channels(const ConvGeometry& g, scalar_t* col, scalar_t* dx, int64_t ld, int64_t c0, int64_t c1) {
  const int64_t ow = g.ow;
  const std::vector<Tap> all_taps = taps(g);
  for (int64_t c = c0; c < c1; ++c) {
    scalar_t* dxc = dx + c * g.h * g.w;
    set_zero(dxc, 0, g.h * g.w);
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        scalar_t* in = col + ((c * g.kh + i) * g.kw + j) * ld;  // [OH, OW]
        const Tap& t = all_taps[i * g.kw + j];
        if (t.cols.begin == t.cols.end || t.rows.begin == t.rows.end) continue;
        if (t.contiguous) {
          zero_outside_columns(in, t, ow);
          const int64_t offset = t.offset;
#pragma omp simd
          for (int64_t d = t.rows.begin * ow + t.cols.begin; d < (t.rows.end - 1) * ow + t.cols.end; ++d)
            dxc[d + offset] += in[d];
          continue;
        }
        const int64_t sw = g.sw, col_shift = t.col_shift, q0 = t.cols.begin, q1 = t.cols.end;
        for (int64_t p = t.rows.begin; p < t.rows.end; ++p) {
          const scalar_t* in_row = in + p * ow;
          scalar_t* dx_row = dxc + (p * g.sh + t.row_shift) * g.w + col_shift;
          if (sw == 2) {  // as in im2col: a constant stride vectorises
#pragma omp simd
            for (int64_t q = q0; q < q1; ++q) dx_row[2 * q] += in_row[q];
          } else {
            for (int64_t q = q0; q < q1; ++q) dx_row[q * sw] += in_row[q];
          }
        }
      }
  }
}

// Channel-parallel when called outside a parallel region (one image on every thread); inline
// inside one (the images are then what runs in parallel).
int64_t channel_grain(const ConvGeometry& g) {
  return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, g.kh * g.kw * g.positions()));
}
void im2col(const ConvGeometry& g, const scalar_t* x, scalar_t* col, int64_t ld) {
  parallel_for(g.c, channel_grain(g), [&](int64_t c0, int64_t c1) { im2col_channels(g, x, col, ld, c0, c1); });
}
void col2im(const ConvGeometry& g, scalar_t* col, scalar_t* dx, int64_t ld) {
  parallel_for(g.c, channel_grain(g), [&](int64_t c0, int64_t c1) { col2im_channels(g, col, dx, ld, c0, c1); });
}

// ---------------- several images per GEMM ----------------
// A small map makes a thin GEMM: [O, K] × [K, P] with P = 16 or 49 positions spends most of its
// time packing W afresh for every image. So images go through in groups, their matrices side by
// side — [K, count·P] instead of count × [K, P] — for one GEMM of at least kGemmColumns columns.
constexpr int64_t kGemmColumns = 256;
int64_t images_per_gemm(int64_t columns_per_image, int64_t images) {
  const int64_t wanted = (kGemmColumns + columns_per_image - 1) / std::max<int64_t>(1, columns_per_image);
  return std::max<int64_t>(1, std::min(wanted, images));
}

// images [count, rows, P] (one after another) -> side_by_side [rows, count·P]; one image is its
// own matrix, so it is returned as it is.
const scalar_t* side_by_side(const scalar_t* images, int64_t count, int64_t rows, int64_t P, scalar_t* buffer) {
  if (count == 1) return images;
  for (int64_t j = 0; j < count; ++j)
    for (int64_t r = 0; r < rows; ++r) std::copy_n(images + (j * rows + r) * P, P, buffer + r * count * P + j * P);
  return buffer;
}
// The inverse: side_by_side [rows, count·P] -> images [count, rows, P].
void one_after_another(const scalar_t* side_by_side, int64_t count, int64_t rows, int64_t P, scalar_t* images) {
  for (int64_t j = 0; j < count; ++j)
    for (int64_t r = 0; r < rows; ++r) std::copy_n(side_by_side + r * count * P + j * P, P, images + (j * rows + r) * P);
}

// A scratch buffer that may not be needed (undefined): its data, or null.
scalar_t* data_or_null(Tensor& buffer) { return buffer.defined() ? buffer.data() : nullptr; }

// The column matrices of `count` images x [count, C, H, W], side by side: [K, count·P] in col
// (a pointwise convolution's are the images themselves).
const scalar_t* column_matrices(const ConvGeometry& g, const scalar_t* x, int64_t count, scalar_t* col) {
  if (g.pointwise()) return side_by_side(x, count, g.c, g.positions(), col);
  for (int64_t j = 0; j < count; ++j) im2col(g, x + j * g.c * g.h * g.w, col + j * g.positions(), count * g.positions());
  return col;
}

// Runs f(n0, n1) over blocks of images: at most kImageBlocks blocks, cut from the image count
// alone, so the per-block partial sums of the weight gradient add up in the same order at every
// thread count (docs/design.md). Each image's GEMMs then run single-threaded inside a block, its
// column matrix in that core's cache; a single image is one block whose GEMMs use every thread.
constexpr int64_t kImageBlocks = 8;
template <class F>
void for_image_blocks(int64_t images, F&& f) {
  parallel_for(images, (images + kImageBlocks - 1) / kImageBlocks, f);
}

// ---------------- Winograd F(2×2, 3×3) ----------------
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016.) A 3×3, stride-1,
// undilated convolution, 2×2 outputs at a time from a 4×4 input tile d (tiles 2 apart):
//   y_tile = Aᵀ [ Σ_c (G w[o, c] Gᵀ) ⊙ (Bᵀ d_c B) ] A
//   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   Aᵀ = [1 1 1 0; 0 1 −1 −1]
// (in 1-D: y₀ = d₀w₀ + d₁w₁ + d₂w₂, y₁ = d₁w₀ + d₂w₁ + d₃w₂ from 4 products instead of 6). With
// U = G w Gᵀ and V = Bᵀ d B indexed by ξ, a position in the 4×4 tile, the sum over channels is
// 16 matrix products per image, 16 multiply-adds per 2×2 outputs instead of 36:
//   M[ξ] = U[ξ] V[ξ]      [O, T] = [O, C] × [C, T]       (T = ⌈OH/2⌉·⌈OW/2⌉ tiles)
//
// When it pays (measured on the attention CNN's layers, forward + backward): with few channels
// the 16 GEMMs are thin (K = C = 1 or 3 for an RGB or grey stem) and the transforms, which grow
// with 16·O per tile, cost more than im2col's 9·C rows: 1→16 at 28×28 took 6.0 ms by Winograd and
// 1.8 ms by im2col, 3→64 at 32×32 9.9 and 3.7 (one thread). From 16 channels Winograd wins or
// ties: 32→32 at 14×14 13 ms against 22, 128→128 at 8×8 14 against 19, 64→64 at 16×16 13 against
// 18 (one thread); 64→64 at 7×7 about the same; 256→256 at 4×4 (only four tiles per channel)
// 26–29 ms against 33–34 on two threads. Below 4×4 a map is a single tile: im2col.
constexpr int64_t kWinogradMinChannels = 16, kWinogradMinSide = 4;
bool winograd_applies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         std::min(g.c, g.o) >= kWinogradMinChannels && std::min(g.h, g.w) >= kWinogradMinSide;
}

// The weight transforms below go through U [16, O, C] (or dU) in blocks of kTransformBlock
// kernels, via a small local buffer: read or written straight, U's 16 planes lie 4·O·C bytes
// apart (a multiple of 4 KiB for the usual widths), so all 16 streams fall on the same few cache
// sets and evict one another (winograd_weights took 4% of the classic-width training step so).
constexpr int64_t kTransformBlock = 64;
int64_t transform_blocks(const ConvGeometry& g) { return (g.o * g.c + kTransformBlock - 1) / kTransformBlock; }
int64_t transform_grain() { return std::max<int64_t>(1, kElementwiseGrain / (16 * kTransformBlock)); }

// U[ξ, o, c] = (G w[o, c] Gᵀ)[ξ]        [16, O, C]
Tensor winograd_weights(const ConvGeometry& g, const scalar_t* w) {
  Tensor u = empty({16, g.o, g.c});
  scalar_t* us = u.data();
  const int64_t oc = g.o * g.c;
  parallel_for(transform_blocks(g), transform_grain(), [&](int64_t b0, int64_t b1) {
    scalar_t block[16][kTransformBlock];  // U[ξ] for the block's kernels
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t k0 = b * kTransformBlock, k1 = std::min(oc, k0 + kTransformBlock);
      for (int64_t k = k0; k < k1; ++k) {  // k = o·C + c, as in w [O, C, 3, 3] and U[ξ] [O, C]
        const scalar_t* f = w + k * 9;
        scalar_t gf[4][3];  // G f: rows f₀, (f₀ + f₁ + f₂)/2, (f₀ − f₁ + f₂)/2, f₂
        for (int j = 0; j < 3; ++j) {
          gf[0][j] = f[j];
          gf[1][j] = (f[j] + f[3 + j] + f[6 + j]) / 2;
          gf[2][j] = (f[j] - f[3 + j] + f[6 + j]) / 2;
          gf[3][j] = f[6 + j];
        }
        for (int r = 0; r < 4; ++r) {  // (G f) Gᵀ, row by row
          block[4 * r + 0][k - k0] = gf[r][0];
          block[4 * r + 1][k - k0] = (gf[r][0] + gf[r][1] + gf[r][2]) / 2;
          block[4 * r + 2][k - k0] = (gf[r][0] - gf[r][1] + gf[r][2]) / 2;
          block[4 * r + 3][k - k0] = gf[r][2];
        }
      }
      for (int xi = 0; xi < 16; ++xi) std::copy(block[xi], block[xi] + (k1 - k0), us + xi * oc + k0);
    }
  });
  return u;
}

// Per-thread buffers for a group of up to `group` images at a time (their tiles side by side:
// V [16, C, count·T], as the column matrices above, so small maps still make wide GEMMs).
struct Winograd {
  const ConvGeometry& g;
  int64_t th, tw, tiles, hp, wp;  // tiles per column and row; the padded image [C, HP, WP]
  int64_t grain;                  // channels per thread when the transforms run in parallel
  int64_t group;                  // images per GEMM
  Tensor padded, transformed, products;  // [C, HP, WP], V [16, C, group·T], M [16, O, group·T]
  Winograd(const ConvGeometry& geometry, int64_t images)
      : g(geometry), th((g.oh + 1) / 2), tw((g.ow + 1) / 2), tiles(th * tw), hp(2 * th + 2), wp(2 * tw + 2),
        grain(std::max<int64_t>(1, kElementwiseGrain / (16 * tiles))), group(images_per_gemm(tiles, images)) {
    padded = zeros({g.c, hp, wp});  // the border stays 0: only the interior is written per image
    transformed = empty({16, g.c, group * tiles});
    products = empty({16, g.o, group * tiles});
  }

  // y [count, O, OH, OW] = conv(x) + bias, for count ≤ group images x [count, C, H, W], with
  // u = U [16, O, C] of this convolution's kernel; or, when `flipped`, u = U [16, C, O] of the
  // kernel w [C, O, 3, 3] whose flip w̃ this convolution uses (the input gradient's, below), so
  // the backward reuses the forward's U instead of flipping w and transforming it again:
  //   w̃[o, c] = J w[c, o] J  (J reverses 3 entries),  and G J = P G with P swapping entries 0
  //   and 3 of 4 (G's middle rows are symmetric), so  Ũ[o, c] = G w̃ Gᵀ = P U[c, o] P:
  //   Ũ[(r, q)] = U[(π r, π q)]ᵀ,  π = (3, 1, 2, 0)
  void images(const scalar_t* u, const scalar_t* x, int64_t count, const scalar_t* bias, scalar_t* y,
              bool flipped = false) {
    const int64_t columns = count * tiles, ct = g.c * columns, ot = g.o * columns;
    for (int64_t j = 0; j < count; ++j) transform_input(x + j * g.c * g.h * g.w, j, columns);
    const scalar_t* v = transformed.data();
    scalar_t* m = products.data();
    constexpr int64_t pi[4] = {3, 1, 2, 0};
    for (int64_t xi = 0; xi < 16; ++xi) {
      const int64_t source = flipped ? 4 * pi[xi / 4] + pi[xi % 4] : xi;
      gemm(flipped, false, g.o, columns, g.c, 1, u + source * g.o * g.c, flipped ? g.o : g.c, v + xi * ct, columns, 0,
           m + xi * ot, columns);
    }
    for (int64_t j = 0; j < count; ++j) transform_output(bias, y + j * g.o * g.oh * g.ow, j, columns);
  }

  // The weight gradient of count ≤ group images, added to du [16, O, C] (overwriting it when beta = 0):
  //   y_t = Aᵀ (U ⊙ V_t) A  ⇒  dU = Σ_t (A dy_t Aᵀ) ⊙ V_t,  over channels: dU[ξ] += dY[ξ] V[ξ]ᵀ
  //   [O, C] += [O, T] × [T, C];  dW = Gᵀ dU G comes once at the end (winograd_weight_gradient).
  void weight_gradient(const scalar_t* x, const scalar_t* dy, int64_t count, scalar_t beta, scalar_t* du) {
    const int64_t columns = count * tiles, ct = g.c * columns, ot = g.o * columns;
    for (int64_t j = 0; j < count; ++j) {
      transform_input(x + j * g.c * g.h * g.w, j, columns);
      transform_output_gradient(dy + j * g.o * g.oh * g.ow, j, columns);
    }
    const scalar_t* v = transformed.data();
    const scalar_t* m = products.data();
    for (int64_t xi = 0; xi < 16; ++xi)
      gemm(false, true, g.o, g.c, columns, 1, m + xi * ot, columns, v + xi * ct, columns, beta, du + xi * g.o * g.c,
           g.c);
  }

 private:
  // V = Bᵀ d B for every 4×4 tile d of x_n (zero-padded), over channels in parallel (inline
  // inside a parallel region), into the columns of image `slot` of V [16, C, columns].
  void transform_input(const scalar_t* x, int64_t slot, int64_t columns) {
    scalar_t* xp = padded.data();
    scalar_t* v = transformed.data();
    const int64_t ct = g.c * columns;
    parallel_for(g.c, grain, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        scalar_t* xc = xp + c * hp * wp;
        for (int64_t r = 0; r < g.h; ++r) {
          scalar_t* dst = xc + (r + g.ph) * wp + g.pw;
          const scalar_t* src = x + (c * g.h + r) * g.w;
#pragma omp simd
          for (int64_t q = 0; q < g.w; ++q) dst[q] = src[q];
        }
        for (int64_t a = 0; a < th; ++a) {
          const scalar_t* d0 = xc + 2 * a * wp;  // rows 2a .. 2a + 3 of the padded image
          const scalar_t *d1 = d0 + wp, *d2 = d1 + wp, *d3 = d2 + wp;
          scalar_t* out = v + c * columns + slot * tiles + a * tw;  // + ξ·C·columns for position ξ
#pragma omp simd
          for (int64_t b = 0; b < tw; ++b) {
            const int64_t s = 2 * b;
            scalar_t e[4][4];  // e_r = d_r B, then V = Bᵀ e
            const scalar_t* rows[4] = {d0, d1, d2, d3};
            for (int r = 0; r < 4; ++r) {
              e[r][0] = rows[r][s] - rows[r][s + 2];
              e[r][1] = rows[r][s + 1] + rows[r][s + 2];
              e[r][2] = rows[r][s + 2] - rows[r][s + 1];
              e[r][3] = rows[r][s + 1] - rows[r][s + 3];
            }
            for (int q = 0; q < 4; ++q) {
              out[(0 + q) * ct + b] = e[0][q] - e[2][q];
              out[(4 + q) * ct + b] = e[1][q] + e[2][q];
              out[(8 + q) * ct + b] = e[2][q] - e[1][q];
              out[(12 + q) * ct + b] = e[1][q] - e[3][q];
            }
          }
        }
      }
    });
  }

  // y = Aᵀ M A + bias per tile, two output rows at a time, over output channels in parallel.
  void transform_output(const scalar_t* bias, scalar_t* y, int64_t slot, int64_t columns) {
    const scalar_t* m = products.data();
    const int64_t ot = g.o * columns;
    parallel_for(g.o, grain, [&](int64_t o0, int64_t o1) {
      std::vector<scalar_t> pair(4 * tw);  // two output rows of the tile row, [2, 2·tw]
      for (int64_t o = o0; o < o1; ++o) {
        const scalar_t b_o = bias ? bias[o] : scalar_t(0);
        for (int64_t a = 0; a < th; ++a) {
          const scalar_t* in = m + o * columns + slot * tiles + a * tw;  // + ξ·O·columns for position ξ
          scalar_t* top = pair.data();
          scalar_t* bottom = top + 2 * tw;
#pragma omp simd
          for (int64_t b = 0; b < tw; ++b) {
            scalar_t p[16], q[2][4];
            for (int xi = 0; xi < 16; ++xi) p[xi] = in[xi * ot + b];
            for (int j = 0; j < 4; ++j) {  // Aᵀ p
              q[0][j] = p[j] + p[4 + j] + p[8 + j];
              q[1][j] = p[4 + j] - p[8 + j] - p[12 + j];
            }
            top[2 * b] = q[0][0] + q[0][1] + q[0][2];  // (Aᵀ p) A
            top[2 * b + 1] = q[0][1] - q[0][2] - q[0][3];
            bottom[2 * b] = q[1][0] + q[1][1] + q[1][2];
            bottom[2 * b + 1] = q[1][1] - q[1][2] - q[1][3];
          }
          for (int64_t i = 0; i < 2 && 2 * a + i < g.oh; ++i) {  // the last tile row may overhang
            scalar_t* yr = y + (o * g.oh + 2 * a + i) * g.ow;
            const scalar_t* src = i == 0 ? top : bottom;
#pragma omp simd
            for (int64_t q = 0; q < g.ow; ++q) yr[q] = src[q] + b_o;
          }
        }
      }
    });
  }

  // The adjoint of transform_output: dY = A dy Aᵀ per 2×2 tile of dy_n [O, OH, OW] (outputs that
  // an overhanging tile does not have count as 0), into image `slot`'s columns of products [16, O, columns].
  //   A = Aᵀᵀ: a 2-vector (y₀, y₁) goes to (y₀, y₀ + y₁, y₀ − y₁, −y₁)
  void transform_output_gradient(const scalar_t* dy, int64_t slot, int64_t columns) {
    scalar_t* m = products.data();
    const int64_t ot = g.o * columns;
    parallel_for(g.o, grain, [&](int64_t o0, int64_t o1) {
      std::vector<scalar_t> pair(4 * tw, 0);  // two rows of dy, zero beyond OH and OW
      for (int64_t o = o0; o < o1; ++o)
        for (int64_t a = 0; a < th; ++a) {
          for (int64_t i = 0; i < 2; ++i) {
            scalar_t* dst = pair.data() + i * 2 * tw;
            if (2 * a + i < g.oh) {
              const scalar_t* src = dy + (o * g.oh + 2 * a + i) * g.ow;
#pragma omp simd
              for (int64_t q = 0; q < g.ow; ++q) dst[q] = src[q];
            } else {
#pragma omp simd
              for (int64_t q = 0; q < g.ow; ++q) dst[q] = 0;
            }
          }
          const scalar_t* top = pair.data();
          const scalar_t* bottom = top + 2 * tw;
          scalar_t* out = m + o * columns + slot * tiles + a * tw;  // + ξ·O·columns for position ξ
#pragma omp simd
          for (int64_t b = 0; b < tw; ++b) {
            const scalar_t y[2][2] = {{top[2 * b], top[2 * b + 1]}, {bottom[2 * b], bottom[2 * b + 1]}};
            scalar_t col[2][4];  // each row of the tile times Aᵀ
            for (int i = 0; i < 2; ++i) {
              col[i][0] = y[i][0];
              col[i][1] = y[i][0] + y[i][1];
              col[i][2] = y[i][0] - y[i][1];
              col[i][3] = -y[i][1];
            }
            for (int j = 0; j < 4; ++j) {  // A times the columns
              out[(0 + j) * ot + b] = col[0][j];
              out[(4 + j) * ot + b] = col[0][j] + col[1][j];
              out[(8 + j) * ot + b] = col[0][j] - col[1][j];
              out[(12 + j) * ot + b] = -col[1][j];
            }
          }
        }
    });
  }
};

// dW[o, c] = Gᵀ dU[o, c] G  (3×3 from 4×4), the adjoint of U = G w Gᵀ.
//   Gᵀ: a 4-vector (z₀, z₁, z₂, z₃) goes to (z₀ + (z₁ + z₂)/2, (z₁ − z₂)/2, (z₁ + z₂)/2 + z₃)
void winograd_weight_gradient(const ConvGeometry& g, const scalar_t* du, scalar_t* dw) {
  const int64_t oc = g.o * g.c;
  parallel_for(transform_blocks(g), transform_grain(), [&](int64_t b0, int64_t b1) {
    scalar_t block[16][kTransformBlock];  // dU[ξ] for the block's kernels (see kTransformBlock)
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t k0 = b * kTransformBlock, k1 = std::min(oc, k0 + kTransformBlock);
      for (int xi = 0; xi < 16; ++xi) std::copy(du + xi * oc + k0, du + xi * oc + k1, block[xi]);
      for (int64_t k = k0; k < k1; ++k) {
        scalar_t z[4][3];  // Gᵀ applied along each row of dU[o, c]
        for (int r = 0; r < 4; ++r) {
          const scalar_t d0 = block[4 * r][k - k0], d1 = block[4 * r + 1][k - k0], d2 = block[4 * r + 2][k - k0],
                         d3 = block[4 * r + 3][k - k0];
          z[r][0] = d0 + (d1 + d2) / 2;
          z[r][1] = (d1 - d2) / 2;
          z[r][2] = (d1 + d2) / 2 + d3;
        }
        scalar_t* out = dw + k * 9;
        for (int j = 0; j < 3; ++j) {  // then down each column
          out[j] = z[0][j] + (z[1][j] + z[2][j]) / 2;
          out[3 + j] = (z[1][j] - z[2][j]) / 2;
          out[6 + j] = (z[1][j] + z[2][j]) / 2 + z[3][j];
        }
      }
    }
  });
}

// With stride 1 the input gradient is itself a convolution, of dy with the kernel flipped and
// its in/out channels swapped:
//   dx[c, a, b] = Σ_{o,i,j} w[o, c, i, j] · dy[o, a + ph − i·dh, b + pw − j·dw]
//               = conv2d(dy, w̃, padding d·(K − 1) − p, dilation d)[c, a, b],
//   w̃[c, o, i, j] = w[o, c, KH − 1 − i, KW − 1 − j]
// so it runs as im2col + one GEMM per image, like the forward — no col2im, and no [K, P] buffer
// to clear. Its geometry, or nullopt where that padding would be negative (or stride > 1).
std::optional<ConvGeometry> input_gradient_geometry(const ConvGeometry& g) {
  const int64_t ph = g.dh * (g.kh - 1) - g.ph, pw = g.dw * (g.kw - 1) - g.pw;
  if (g.sh != 1 || g.sw != 1 || ph < 0 || pw < 0) return std::nullopt;
  return ConvGeometry{g.n, g.o, g.oh, g.ow, g.c, g.kh, g.kw, 1, 1, ph, pw, g.dh, g.dw, g.h, g.w};
}

// w̃ [C, O, KH, KW] from w [O, C, KH, KW], as above.
Tensor flipped_weight(const ConvGeometry& g, const scalar_t* w) {
  Tensor flipped = empty({g.c, g.o, g.kh, g.kw});
  scalar_t* f = flipped.data();
  for (int64_t o = 0; o < g.o; ++o)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j)
          f[((c * g.o + o) * g.kh + i) * g.kw + j] = w[((o * g.c + c) * g.kh + (g.kh - 1 - i)) * g.kw + (g.kw - 1 - j)];
  return flipped;
}

}  // namespace

// Per image n (W viewed as [O, K], K = C·KH·KW; col_n = im2col(x_n) [K, P], P = OH·OW):
//   y_n = W col_n + b          [O, P] = [O, K] × [K, P], b broadcast along P
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride, Size2d padding,
              Size2d dilation, int64_t groups) {
  const ConvGeometry g = conv_geometry(x, weight, bias, stride, padding, dilation, groups);
  const int64_t K = g.rows(), P = g.positions(), O = g.o;
  Tensor out = empty({g.n, O, g.oh, g.ow});
  const scalar_t* xs = x.data();
  const scalar_t* ws = weight.data();
  const scalar_t* bs = bias.defined() ? bias.data() : nullptr;
  scalar_t* ys = out.data();
  const Tensor u = winograd_applies(g) ? winograd_weights(g, ws) : Tensor();
  for_image_blocks(g.n, [&](int64_t n0, int64_t n1) {
    const int64_t CHW = g.c * g.h * g.w;
    if (u.defined()) {  // 3×3, stride 1: Winograd
      Winograd winograd(g, n1 - n0);
      for (int64_t n = n0; n < n1; n += winograd.group)
        winograd.images(u.data(), xs + n * CHW, std::min(winograd.group, n1 - n), bs, ys + n * O * P);
      return;
    }
    const int64_t group = images_per_gemm(P, n1 - n0);
    Tensor col = g.pointwise() && group == 1 ? Tensor() : empty({K, group * P});  // reused by every group
    Tensor grouped = group > 1 ? empty({O, group * P}) : Tensor();
    for (int64_t n = n0; n < n1; n += group) {
      const int64_t count = std::min(group, n1 - n), columns = count * P;
      const scalar_t* cn = column_matrices(g, xs + n * CHW, count, data_or_null(col));  // [K, count·P]
      scalar_t* yn = count == 1 ? ys + n * O * P : grouped.data();               // [O, count·P]
      if (bs)
        for (int64_t o = 0; o < O; ++o) std::fill(yn + o * columns, yn + (o + 1) * columns, bs[o]);
      gemm(false, false, O, columns, K, 1, ws, K, cn, columns, bs ? 1 : 0, yn, columns);
      if (count > 1) one_after_another(yn, count, O, P, ys + n * O * P);
    }
  });

  // Backward, with dy_n = dL/dy_n [O, P], per image:
  //   y_n = W col_n + b  ⇒  dW += dy_n col_nᵀ     [O, K] += [O, P] × [P, K]   (col_n recomputed)
  //                         db += Σ_p dy_n[:, p]
  //                         dcol_n = Wᵀ dy_n       [K, P] = [K, O] × [O, P],  dx_n = col2im(dcol_n)
  //   or, with stride 1:   dx_n = w̃ im2col'(dy_n)  [C, H·W] = [C, O·KH·KW] × [O·KH·KW, H·W]
  //                         (input_gradient_geometry above; the same numbers, summed in another order)
  //   and for 3×3 stride 1, Winograd: dx_n as a convolution of dy_n by w̃, and
  //                         dU += (A dy Aᵀ) Vᵀ per tile position, dW = Gᵀ dU G at the end
  // Each block of images sums its own dW (or dU) and db; the blocks' sums are added at the end.
  record(out, "conv2d", {&x, &weight, &bias},
         [x = x.detach(), w = weight.detach(), g, u](const Tensor& grad, GradSink& sink) {
           const bool need_x = sink.needs(0), need_w = sink.needs(1), need_b = sink.needs(2);
           const int64_t K = g.rows(), P = g.positions(), O = g.o;
           const scalar_t* xs = x.data();
           const scalar_t* ws = w.data();
           const scalar_t* gs = grad.data();
           Tensor dx = need_x ? empty(x.shape()) : Tensor();
           const std::optional<ConvGeometry> gt = need_x && !g.pointwise() ? input_gradient_geometry(g) : std::nullopt;
           // Winograd for dx reuses the forward's U (Winograd::images, flipped); im2col needs w̃.
           const bool winograd_x = gt && winograd_applies(*gt);
           const Tensor u_x = !winograd_x ? Tensor() : u.defined() ? u : winograd_weights(g, ws);
           const Tensor flipped = gt && !winograd_x ? flipped_weight(g, ws) : Tensor();
           const bool winograd_w = need_w && winograd_applies(g);
           const int64_t dw_size = winograd_w ? 16 * O * g.c : O * K;  // dU [16, O, C] or dW [O, K]
           std::vector<Tensor> block_sums(g.n);  // [dw_size + O]: dW (or dU) then db, at the block's first image
           for_image_blocks(g.n, [&](int64_t n0, int64_t n1) {
             const int64_t CHW = g.c * g.h * g.w, images = n1 - n0;
             Tensor sums = need_w || need_b ? empty({dw_size + O}) : Tensor();
             if (winograd_w) {
               Winograd winograd(g, images);
               for (int64_t n = n0; n < n1; n += winograd.group)  // the first group overwrites, the rest add
                 winograd.weight_gradient(xs + n * CHW, gs + n * O * P, std::min(winograd.group, n1 - n),
                                          n == n0 ? 0 : 1, sums.data());
             } else if (need_w) {
               const int64_t group = images_per_gemm(P, images);
               Tensor col = g.pointwise() && group == 1 ? Tensor() : empty({K, group * P});
               Tensor dy_side = group > 1 ? empty({O, group * P}) : Tensor();
               for (int64_t n = n0; n < n1; n += group) {
                 const int64_t count = std::min(group, n1 - n), columns = count * P;
                 const scalar_t* cn = column_matrices(g, xs + n * CHW, count, data_or_null(col));  // [K, count·P]
                 const scalar_t* dyn = side_by_side(gs + n * O * P, count, O, P, data_or_null(dy_side));  // [O, count·P]
                 gemm(false, true, O, K, columns, 1, dyn, columns, cn, columns, n == n0 ? 0 : 1, sums.data(), K);
               }
             }
             if (need_b) {
               scalar_t* db = sums.data() + dw_size;
               for (int64_t n = n0; n < n1; ++n) {
                 const scalar_t* gn = gs + n * O * P;  // dy_n [O, P]
                 for (int64_t o = 0; o < O; ++o) {
                   scalar_t s = 0;
#pragma omp simd reduction(+ : s)
                   for (int64_t p = 0; p < P; ++p) s += gn[o * P + p];
                   db[o] = n == n0 ? s : db[o] + s;  // not beta · db: 0 · (recycled NaN) is NaN
                 }
               }
             }
             if (need_x && winograd_x) {
               Winograd winograd(*gt, images);
               for (int64_t n = n0; n < n1; n += winograd.group)
                 winograd.images(u_x.data(), gs + n * O * P, std::min(winograd.group, n1 - n), nullptr,
                                 dx.data() + n * CHW, /*flipped=*/true);
             } else if (need_x) {
               // The GEMM's output: [C, count·H·W] (pointwise, or a convolution by w̃), else dcol [K, count·P].
               const int64_t out_rows = g.pointwise() || gt ? g.c : K, out_positions = g.pointwise() || gt ? g.h * g.w : P;
               const int64_t group = images_per_gemm(gt ? gt->positions() : P, images);
               Tensor dy_side = group > 1 && !gt ? empty({O, group * P}) : Tensor();
               Tensor dcol = gt ? empty({gt->rows(), group * gt->positions()}) : Tensor();  // im2col'(dy)
               Tensor result = group > 1 || !(g.pointwise() || gt) ? empty({out_rows, group * out_positions}) : Tensor();
               for (int64_t n = n0; n < n1; n += group) {
                 const int64_t count = std::min(group, n1 - n);
                 const scalar_t* gn = gs + n * O * P;
                 scalar_t* dxn = dx.data() + n * CHW;
                 scalar_t* r = count == 1 && (g.pointwise() || gt) ? dxn : data_or_null(result);  // [out_rows, columns]
                 const int64_t columns = count * out_positions;
                 if (gt) {
                   const scalar_t* cn = column_matrices(*gt, gn, count, dcol.data());
                   gemm(false, false, g.c, columns, gt->rows(), 1, flipped.data(), gt->rows(), cn, columns, 0, r, columns);
                 } else {
                   gemm(true, false, K, columns, O, 1, ws, K, side_by_side(gn, count, O, P, data_or_null(dy_side)), columns, 0, r,
                        columns);
                 }
                 if (g.pointwise() || gt) {
                   if (count > 1) one_after_another(r, count, g.c, out_positions, dxn);
                 } else {
                   for (int64_t j = 0; j < count; ++j) col2im(g, r + j * P, dxn + j * CHW, columns);
                 }
               }
             }
             if (sums.defined()) block_sums[n0] = sums;
           });
           if (need_x) sink.add(0, dx);
           if (need_w || need_b) {
             Tensor total;
             for (const Tensor& s : block_sums) {
               if (!s.defined()) continue;
               if (!total.defined()) {
                 total = s;
                 continue;
               }
               scalar_t* t = total.data();
               const scalar_t* a = s.data();
#pragma omp simd
               for (int64_t i = 0; i < dw_size + O; ++i) t[i] += a[i];
             }
             if (!total.defined()) total = zeros({dw_size + O});  // an empty batch
             if (winograd_w) {
               Tensor dw = empty(w.shape());
               winograd_weight_gradient(g, total.data(), dw.data());
               sink.add(1, dw);
             } else if (need_w) {
               sink.add(1, reshape(narrow(total, 0, 0, dw_size), w.shape()));
             }
             if (need_b) sink.add(2, narrow(total, 0, dw_size, O));
           }
         });
  return out;
}

// ---------------- the reference ----------------

namespace {

// Calls tap(y, x, w) with the flat indices of every product in the definition
//   y[n, o, p, q] += w[o, c, i, j] · x[n, c, p·sh − ph + i·dh, q·sw − pw + j·dw]
// that reads inside the image (the padding contributes 0): the seven loops, once, for the
// reference's forward and backward alike.
template <class F>
void for_each_tap(const ConvGeometry& g, F&& tap) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t p = 0; p < g.oh; ++p)
        for (int64_t q = 0; q < g.ow; ++q)
          for (int64_t c = 0; c < g.c; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ih = p * g.sh - g.ph + i * g.dh, iw = q * g.sw - g.pw + j * g.dw;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                tap(((n * g.o + o) * g.oh + p) * g.ow + q, ((n * g.c + c) * g.h + ih) * g.w + iw,
                    ((o * g.c + c) * g.kh + i) * g.kw + j);
              }
}

Tensor from_doubles(const std::vector<double>& values, const Shape& shape) {
  return from_vector(std::vector<scalar_t>(values.begin(), values.end()), shape);
}

}  // namespace

Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2d stride, Size2d padding,
                        Size2d dilation) {
  const ConvGeometry g = conv_geometry(x, weight, bias, stride, padding, dilation, 1);
  const Shape out_shape{g.n, g.o, g.oh, g.ow};
  std::vector<double> y(out_shape.numel());
  const scalar_t* xs = x.data();
  const scalar_t* ws = weight.data();
  for (int64_t i = 0; i < out_shape.numel(); ++i) y[i] = bias.defined() ? bias.data()[(i / (g.oh * g.ow)) % g.o] : 0;
  for_each_tap(g, [&](int64_t yi, int64_t xi, int64_t wi) { y[yi] += static_cast<double>(ws[wi]) * xs[xi]; });
  Tensor out = from_doubles(y, out_shape);
  // Backward, from the same taps:  y += w·x  ⇒  dx += dy·w,  dw += dy·x;   y = … + b  ⇒  db += dy
  record(out, "conv2d_reference", {&x, &weight, &bias},
         [x = x.detach(), w = weight.detach(), g](const Tensor& grad, GradSink& sink) {
           std::vector<double> dx(x.numel()), dw(w.numel()), db(g.o);
           const scalar_t* gs = grad.data();
           for_each_tap(g, [&](int64_t yi, int64_t xi, int64_t wi) {
             dx[xi] += static_cast<double>(gs[yi]) * w.data()[wi];
             dw[wi] += static_cast<double>(gs[yi]) * x.data()[xi];
           });
           for (int64_t i = 0; i < grad.numel(); ++i) db[(i / (g.oh * g.ow)) % g.o] += gs[i];
           if (sink.needs(0)) sink.add(0, from_doubles(dx, x.shape()));
           if (sink.needs(1)) sink.add(1, from_doubles(dw, w.shape()));
           if (sink.needs(2)) sink.add(2, from_doubles(db, {g.o}));
         });
  return out;
}

// ---------------- the module ----------------

Conv2d::Conv2d(const Conv2dOptions& opts) : UnaryModule("Conv2d"), options(opts) {
  const Conv2dOptions& o = options;
  TS_CHECK(o.in_channels > 0 && o.out_channels > 0, "Conv2d: in_channels ({}) and out_channels ({}) must be positive",
           o.in_channels, o.out_channels);
  TS_CHECK(o.kernel_size.h > 0 && o.kernel_size.w > 0, "Conv2d: kernel_size ({}, {}) must be positive",
           o.kernel_size.h, o.kernel_size.w);
  TS_CHECK(o.stride.h > 0 && o.stride.w > 0 && o.dilation.h > 0 && o.dilation.w > 0 && o.padding.h >= 0 &&
               o.padding.w >= 0,
           "Conv2d: stride ({}, {}) and dilation ({}, {}) must be positive, padding ({}, {}) not negative",
           o.stride.h, o.stride.w, o.dilation.h, o.dilation.w, o.padding.h, o.padding.w);
  TS_CHECK(o.groups == 1, "Conv2d: groups = {} is not supported: only groups = 1", o.groups);
  weight = empty({o.out_channels, o.in_channels, o.kernel_size.h, o.kernel_size.w});
  init::kaiming_uniform_(weight, std::sqrt(5.0));  // = U(−1/√fan_in, 1/√fan_in), fan_in = C·KH·KW
  weight = register_parameter("weight", weight);
  if (o.bias) {
    bias = empty({o.out_channels});
    const double bound = 1 / std::sqrt(static_cast<double>(init::fans(weight.shape()).fan_in));
    init::uniform_(bias, -bound, bound);
    bias = register_parameter("bias", bias);
  }
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2d kernel_size, Size2d stride, Size2d padding,
               Size2d dilation, bool bias)
    : Conv2d(Conv2dOptions{in_channels, out_channels, kernel_size, stride, padding, dilation, 1, bias}) {}

Tensor Conv2d::forward(const Tensor& x) {
  TS_CHECK(x.dim() == 4 && x.shape()[1] == options.in_channels, "Conv2d: expected input [N, {}, H, W], got {}",
           options.in_channels, x.shape());
  return conv2d(x, weight, bias, options.stride, options.padding, options.dilation);
}

std::string Conv2d::extra_repr() const {
  const Conv2dOptions& o = options;
  std::string s = fmt::format("{}, {}, kernel_size={}, stride={}", o.in_channels, o.out_channels,
                              o.kernel_size.str(), o.stride.str());
  if (o.padding != Size2d(0)) s += ", padding=" + o.padding.str();
  if (o.dilation != Size2d(1)) s += ", dilation=" + o.dilation.str();
  if (!o.bias) s += ", bias=false";
  return s;
}

}  // namespace tessera::nn
