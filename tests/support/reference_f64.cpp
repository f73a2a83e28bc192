#include "support/reference_f64.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "effitune/common/check.h"

namespace effitune::testing {
namespace {

using engine::DType;

// y[r] = sum_c W[r][c] x[c] for W of `rows` x `cols`.
std::vector<double> matvec(const std::vector<double>& w, const std::vector<double>& x, int64_t rows) {
  const int64_t cols = static_cast<int64_t>(x.size());
  std::vector<double> y(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0.0;
    for (int64_t c = 0; c < cols; ++c) s += w[static_cast<size_t>(r * cols + c)] * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = s;
  }
  return y;
}

std::vector<double> rmsnorm(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  double ss = 0.0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * inv * w[i];
  return out;
}

}  // namespace

double half_to_f64(uint16_t h) {
  const int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(mant), -24);  // subnormal: mant * 2^-14 / 1024
  } else if (exp == 31) {
    v = mant ? NAN : INFINITY;
  } else {
    v = std::ldexp(1.0 + mant / 1024.0, exp - 15);
  }
  return sign ? -v : v;
}

std::vector<double> tensor_to_f64(const engine::TensorView& t) {
  std::vector<double> out(static_cast<size_t>(t.rows * t.cols));
  for (int64_t r = 0; r < t.rows; ++r) {
    const uint8_t* row = t.row(r);
    double* o = out.data() + r * t.cols;
    switch (t.type) {
      case DType::kF32:
        for (int64_t c = 0; c < t.cols; ++c) {
          float f;
          std::memcpy(&f, row + 4 * c, 4);
          o[c] = f;
        }
        break;
      case DType::kF16:
        for (int64_t c = 0; c < t.cols; ++c) {
          uint16_t h;
          std::memcpy(&h, row + 2 * c, 2);
          o[c] = half_to_f64(h);
        }
        break;
      case DType::kBF16:
        for (int64_t c = 0; c < t.cols; ++c) {
          uint16_t h;
          std::memcpy(&h, row + 2 * c, 2);
          const uint32_t u = static_cast<uint32_t>(h) << 16;
          float f;
          std::memcpy(&f, &u, 4);
          o[c] = f;
        }
        break;
      case DType::kQ8_0:
        for (int64_t b = 0; b < t.cols / 32; ++b) {
          const uint8_t* blk = row + b * 34;
          uint16_t d;
          std::memcpy(&d, blk, 2);
          for (int i = 0; i < 32; ++i) o[b * 32 + i] = half_to_f64(d) * static_cast<int8_t>(blk[2 + i]);
        }
        break;
      case DType::kQ4_0:
        for (int64_t b = 0; b < t.cols / 32; ++b) {
          const uint8_t* blk = row + b * 18;
          uint16_t d;
          std::memcpy(&d, blk, 2);
          for (int i = 0; i < 16; ++i) {
            o[b * 32 + i] = half_to_f64(d) * ((blk[2 + i] & 0x0F) - 8);
            o[b * 32 + i + 16] = half_to_f64(d) * ((blk[2 + i] >> 4) - 8);
          }
        }
        break;
      default: {
        std::vector<float> tmp(static_cast<size_t>(t.cols));
        engine::dequantize_row(t.type, row, tmp.data(), t.cols);
        for (int64_t c = 0; c < t.cols; ++c) o[c] = tmp[static_cast<size_t>(c)];
      }
    }
  }
  return out;
}

ReferenceLlama::ReferenceLlama(const engine::ModelWeights& w) : cfg_(w.config) {
  embedding_ = tensor_to_f64(w.token_embedding);
  output_norm_ = tensor_to_f64(w.output_norm);
  output_ = tensor_to_f64(w.output);
  for (const engine::LayerWeights& l : w.layers) {
    layers_.push_back(Layer{tensor_to_f64(l.attn_norm), tensor_to_f64(l.wq), tensor_to_f64(l.wk), tensor_to_f64(l.wv),
                            tensor_to_f64(l.wo), tensor_to_f64(l.ffn_norm), tensor_to_f64(l.w_gate),
                            tensor_to_f64(l.w_down), tensor_to_f64(l.w_up)});
  }
  reset();
}

void ReferenceLlama::reset() {
  pos_ = 0;
  key_cache_.assign(static_cast<size_t>(cfg_.n_layers), {});
  value_cache_.assign(static_cast<size_t>(cfg_.n_layers), {});
}

std::vector<double> ReferenceLlama::step(int32_t token) {
  EFFITUNE_CHECK(token >= 0 && token < cfg_.vocab_size, "reference: token out of range");
  const int64_t d = cfg_.dim, hd = cfg_.head_dim(), kvd = cfg_.kv_dim(), f = cfg_.hidden_dim;
  const int64_t nh = cfg_.n_heads, group = cfg_.n_heads / cfg_.n_kv_heads;
  const double eps = cfg_.rms_eps;
  std::vector<double> x(embedding_.begin() + token * d, embedding_.begin() + (token + 1) * d);

  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    std::vector<double> xb = rmsnorm(x, L.attn_norm, eps);
    std::vector<double> q = matvec(L.wq, xb, d), k = matvec(L.wk, xb, kvd), v = matvec(L.wv, xb, kvd);
    // RoPE: rotate each interleaved pair (2i, 2i+1) of every head by pos * theta^(-2i/hd) / factor_i.
    for (int64_t i = 0; i < hd / 2; ++i) {
      double freq = std::pow(static_cast<double>(cfg_.rope_theta), -2.0 * static_cast<double>(i) / hd);
      if (!cfg_.rope_freq_factors.empty()) freq /= cfg_.rope_freq_factors[static_cast<size_t>(i)];
      const double c = std::cos(pos_ * freq), s = std::sin(pos_ * freq);
      auto rot = [&](std::vector<double>& vec, int64_t heads) {
        for (int64_t h = 0; h < heads; ++h) {
          double& a = vec[static_cast<size_t>(h * hd + 2 * i)];
          double& b = vec[static_cast<size_t>(h * hd + 2 * i + 1)];
          const double a0 = a, b0 = b;
          a = a0 * c - b0 * s;
          b = a0 * s + b0 * c;
        }
      };
      rot(q, nh);
      rot(k, cfg_.n_kv_heads);
    }
    key_cache_[l].insert(key_cache_[l].end(), k.begin(), k.end());
    value_cache_[l].insert(value_cache_[l].end(), v.begin(), v.end());

    std::vector<double> att(static_cast<size_t>(d), 0.0);
    for (int64_t h = 0; h < nh; ++h) {
      const int64_t g = h / group;
      std::vector<double> scores(static_cast<size_t>(pos_ + 1));
      double mx = -INFINITY;
      for (int64_t t = 0; t <= pos_; ++t) {
        double s = 0.0;
        for (int64_t i = 0; i < hd; ++i)
          s += q[static_cast<size_t>(h * hd + i)] * key_cache_[l][static_cast<size_t>(t * kvd + g * hd + i)];
        scores[static_cast<size_t>(t)] = s / std::sqrt(static_cast<double>(hd));
        mx = std::max(mx, scores[static_cast<size_t>(t)]);
      }
      double sum = 0.0;
      for (double& s : scores) sum += (s = std::exp(s - mx));
      for (int64_t t = 0; t <= pos_; ++t)
        for (int64_t i = 0; i < hd; ++i)
          att[static_cast<size_t>(h * hd + i)] +=
              scores[static_cast<size_t>(t)] / sum * value_cache_[l][static_cast<size_t>(t * kvd + g * hd + i)];
    }
    std::vector<double> o = matvec(L.wo, att, d);
    for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(i)] += o[static_cast<size_t>(i)];

    xb = rmsnorm(x, L.ffn_norm, eps);
    std::vector<double> gate = matvec(L.w1, xb, f), up = matvec(L.w3, xb, f);
    for (int64_t i = 0; i < f; ++i) {
      const double g = gate[static_cast<size_t>(i)];
      gate[static_cast<size_t>(i)] = g / (1.0 + std::exp(-g)) * up[static_cast<size_t>(i)];
    }
    std::vector<double> down = matvec(L.w2, gate, d);
    for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(i)] += down[static_cast<size_t>(i)];
  }
  ++pos_;
  return matvec(output_, rmsnorm(x, output_norm_, eps), cfg_.vocab_size);
}

}  // namespace effitune::testing
