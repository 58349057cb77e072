#include "duet/tensor.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <mutex>
#include <set>
#include <type_traits>

#include "core/allocator.h"
#include "core/copy.h"
#include "core/device_backend.h"
#include "core/dtype_dispatch.h"
#include "core/recording.h"
#include "core/tensor_impl.h"
#include "duet/autograd.h"
#include "duet/ops/shape.h"
#include "duet/source_location.h"
#include "profiler/hooks.h"

namespace duet {
namespace detail {

Storage::Storage(size_t n, Device d) : nbytes(n), device(d) {
  data = allocator_for(d).allocate(n);
}
Storage::~Storage() {
  if (owned) {
    allocator_for(device).deallocate(data, nbytes);
  } else if (deleter) {
    try {
      deleter(data);
    } catch (...) {  // a destructor must not throw; the user's deleter's error is dropped
    }
  }
}

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device device,
                                      const char* what) {
  const int64_t nbytes = checked_nbytes(shape, dtype_size(dtype), what);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(nbytes), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  impl->device = device;
  return impl;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset, const char* what) {
  // No storage (symbolic) or no memory yet (the graph planner's layouts): only the arithmetic
  // is checked.
  const auto& storage = base.impl()->storage;
  const int64_t storage_numel =  // -1: unknown
      storage && storage->data ? static_cast<int64_t>(storage->nbytes / dtype_size(base.dtype()))
                               : -1;
  check_view_bounds(shape, strides, offset, storage_numel, what);
  // An empty view reaches no element: an offset outside its storage is dropped, so data_ptr()
  // never computes offset * itemsize past int64 or a pointer outside the allocation.
  if ((offset < 0 || offset > std::max<int64_t>(storage_numel, 0)) && numel(shape) == 0)
    offset = 0;
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->device = base.device();
  return Tensor(std::move(impl));
}

bool is_contiguous(const Shape& shape, const Shape& strides) {
  // No elements: nothing to lay out (contiguous_strides gives a (3, 0) tensor strides (1, 1)).
  if (numel(shape) == 0) return true;
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

}  // namespace detail

using detail::make_impl;

static void check_defined(const Tensor& t, const char* what) {
  DUET_CHECK(t.defined(), what, ": the tensor is undefined (default-constructed)");
}

const Shape& Tensor::shape() const {
  check_defined(*this, "shape");
  return impl_->shape;
}
int64_t Tensor::dim() const {
  return static_cast<int64_t>(shape().size());
}
int64_t Tensor::size(int64_t axis) const {
  return shape()[normalize_axis(axis, dim(), "size")];
}
int64_t Tensor::numel() const {
  return duet::numel(shape());
}
const Shape& Tensor::strides() const {
  check_defined(*this, "strides");
  return impl_->strides;
}
int64_t Tensor::storage_offset() const {
  return impl_->offset;
}
DType Tensor::dtype() const {
  check_defined(*this, "dtype");
  return impl_->dtype;
}
Device Tensor::device() const {
  check_defined(*this, "device");
  return impl_->device;
}
bool Tensor::is_contiguous() const {
  return detail::is_contiguous(shape(), impl_->strides);
}
bool Tensor::is_symbolic() const {
  return impl_ && impl_->symbolic != nullptr;
}

void* Tensor::data_ptr() const {
  check_defined(*this, "data");
  DUET_CHECK(impl_->storage, "reading a value: this tensor is symbolic (graph mode), ",
             impl_->symbolic ? impl_->symbolic->describe() : std::string("?"), ", shape ",
             shape_str(impl_->shape),
             "; its value exists only when the compiled graph runs, so "
             "data-dependent host code (if/while on a tensor value) cannot be traced");
  return impl_->bytes();
}

void Tensor::check_dtype(DType expected, const char* what) const {
  DUET_CHECK(dtype() == expected, what, ": tensor has dtype ", dtype(), " but ", expected,
             " was requested");
}

// Reading a concrete tensor on the host while a graph records: the value becomes a constant of
// the graph. The graph layer notes the read (a later write to the tensor makes the graph
// stale); warn once per source location, the caller's (loc) unless it is inside duet.
static void warn_host_read(const Tensor& t, const std::source_location& loc) {
  if (!recording_active() || t.is_symbolic()) return;
  LocationScope scope(loc);
  const SourceLoc at = current_location();
  note_host_read(t, at);
  static std::mutex mu;
  static std::set<std::string> warned;
  const std::string where = at.str();
  std::lock_guard<std::mutex> lock(mu);
  if (!warned.insert(where).second) return;
  std::cerr << "duet: warning: a tensor value (shape " << shape_str(t.shape())
            << ") was read on the host while tracing at " << where
            << "; it is baked into the graph as a constant (writing the tensor later makes jit "
               "retrace; a compiled Executable refuses to run)\n";
}

template <class T>
std::vector<T> Tensor::to_vector(std::source_location loc) const {
  if (defined()) warn_host_read(*this, loc);
  // A CUDA tensor is copied to the host first (waiting for the kernels that make it).
  Tensor c = defined() && is_contiguous() && dtype() == dtype_of<T>() && device() == cpu ? *this
                                                                                         : Tensor();
  if (!c.defined()) {
    c = Tensor(make_impl(shape(), dtype_of<T>(), cpu));
    detail::strided_copy(*this, c);
  }
  const T* p = static_cast<const T*>(c.data_ptr());
  return std::vector<T>(p, p + c.numel());
}

template <class T>
T Tensor::item(std::source_location loc) const {
  DUET_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " has ", numel(),
             " elements; expected exactly one");
  return to_vector<T>(loc)[0];
}

#define DUET_INSTANTIATE(T)                                               \
  template std::vector<T> Tensor::to_vector<T>(std::source_location) const; \
  template T Tensor::item<T>(std::source_location) const;
DUET_INSTANTIATE(float)
DUET_INSTANTIATE(double)
DUET_INSTANTIATE(int64_t)
DUET_INSTANTIATE(bool)
DUET_INSTANTIATE(Float16)
DUET_INSTANTIATE(BFloat16)
#undef DUET_INSTANTIATE

// ---- factories ----

// The factories are no op-table ops, but a profile records them as ops (duet/profiler.h), as
// torch.profiler records aten::zeros.
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  profiler::detail::Scope profile_scope(profiler::EventKind::op, "empty", nullptr, device);
  return Tensor(make_impl(shape, dtype, device, "empty"));
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  profiler::detail::Scope profile_scope(profiler::EventKind::op, "zeros", nullptr, device);
  Tensor t(make_impl(shape, dtype, device, "zeros"));
  if (device.type != DeviceType::cpu) return t.fill_(0.0);
  std::memset(t.data_ptr(), 0, t.numel() * dtype_size(dtype));
  return t;
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  profiler::detail::Scope profile_scope(profiler::EventKind::op, "full", nullptr, device);
  Tensor t(make_impl(shape, dtype, device, "full"));
  t.fill_(value);
  return t;
}
Tensor Tensor::scalar(double value, DType dtype) {
  return full({}, value, dtype);
}

// The factories' dtypes: dispatch_all's and the 16-bit floating types.
template <class F>
static void dispatch_factory(DType dtype, const char* op, F&& f) {
  if (dtype == DType::float16) return f(Float16{});
  if (dtype == DType::bfloat16) return f(BFloat16{});
  detail::dispatch_all(dtype, op, f);
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  DUET_CHECK(n >= 0, "arange: n = ", n, " (expected n >= 0)");
  Tensor t(make_impl({n}, dtype, cpu, "arange"));
  dispatch_factory(dtype, "arange", [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    // float16 / bfloat16: i rounded to float, then to nearest even (as PyTorch's arange).
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>)
        p[i] = T(static_cast<float>(i));
      else
        p[i] = static_cast<T>(i);
    }
  });
  return t;
}

// A floating tensor of fill() draws (doubles). float16 and bfloat16 take the float32 draws,
// rounded to nearest even: the same generator state gives bits equal to rounding randn's
// float32 tensor, and draws the same number of values.
template <class Fill>
static Tensor random_tensor(const Shape& shape, DType dtype, const char* op, Fill fill) {
  Tensor t(make_impl(shape, dtype, cpu, op));
  DUET_CHECK(is_floating(dtype), op, ": dtype ", dtype,
             " is not supported (expected float32, float64, float16 or bfloat16)");
  dispatch_factory(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, Float16> ||
                  std::is_same_v<T, BFloat16>) {
      T* p = t.data<T>();
      for (int64_t i = 0, n = t.numel(); i < n; ++i) {
        if constexpr (std::is_same_v<T, double>)
          p[i] = fill();
        else
          p[i] = T(static_cast<float>(fill()));
      }
    }
  });
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype) {
  return random_tensor(shape, dtype, "randn", [&] { return gen.normal(); });
}
Tensor Tensor::rand(const Shape& shape, Generator& gen, DType dtype) {
  return random_tensor(shape, dtype, "rand", [&] { return gen.uniform(); });
}
Tensor Tensor::uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype) {
  DUET_CHECK(lo <= hi, "uniform: lo = ", lo, " > hi = ", hi, " (expected lo <= hi)");
  return random_tensor(shape, dtype, "uniform", [&] { return lo + (hi - lo) * gen.uniform(); });
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, DType dtype) {
  const int64_t n = checked_numel(shape, "from_vector");
  DUET_CHECK(static_cast<int64_t>(values.size()) == n, "from_vector: ", values.size(),
             " values given for shape ", shape_str(shape), " (expected ", n, ")");
  Tensor src(make_impl(shape, dtype_of<T>(), cpu, "from_vector"));
  if (!values.empty()) {
    if constexpr (std::is_same_v<T, bool>) {
      bool* p = static_cast<bool*>(src.data_ptr());
      for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
    } else {
      std::memcpy(src.data_ptr(), values.data(), values.size() * sizeof(T));
    }
  }
  return dtype == dtype_of<T>() ? src : src.to(dtype);
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&, DType);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&, DType);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, DType);
template Tensor Tensor::from_vector<bool>(const std::vector<bool>&, const Shape&, DType);
template Tensor Tensor::from_vector<Float16>(const std::vector<Float16>&, const Shape&, DType);
template Tensor Tensor::from_vector<BFloat16>(const std::vector<BFloat16>&, const Shape&, DType);

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype,
                         std::function<void(void*)> deleter, const Shape& strides_in) {
  const char* what = "Tensor::from_blob";
  const int64_t n = checked_numel(shape, what);
  const int64_t item = static_cast<int64_t>(dtype_size(dtype));
  Shape strides = strides_in.empty() ? contiguous_strides(shape) : strides_in;
  DUET_CHECK(strides.size() == shape.size(), what, ": strides ", shape_str(strides),
             " for shape ", shape_str(shape), " (expected one stride per dimension)");
  // Elements reached: 1 + sum (d - 1) * stride, each product and sum checked, then bytes.
  int64_t span = n == 0 ? 0 : 1;
  if (n != 0) {
    for (size_t i = 0; i < shape.size(); ++i) {
      DUET_CHECK(strides[i] >= 0, what, ": stride ", strides[i], " of dimension ", i,
                 " (expected strides >= 0)");
      span = checked_add(span, checked_mul(shape[i] - 1, strides[i], what), what);
    }
  }
  const int64_t nbytes = checked_mul(span, item, what);
  DUET_CHECK(data != nullptr || nbytes == 0, what, ": data is null but shape ", shape_str(shape),
             " ", dtype, " needs ", nbytes, " bytes (expected a pointer to them)");
  auto impl = std::make_shared<detail::TensorImpl>();
  impl->storage =
      std::make_shared<detail::Storage>(data, static_cast<size_t>(nbytes), cpu);
  impl->storage->deleter = std::move(deleter);
  impl->shape = shape;
  impl->strides = std::move(strides);
  impl->dtype = dtype;
  impl->device = cpu;
  return Tensor(std::move(impl));
}

// ---- views and copies: the ops in duet/ops/shape.h ----

// The view/copy methods forward the caller's location to the op functions.
Tensor Tensor::contiguous(std::source_location loc) const {
  return duet::contiguous(*this, loc);
}
Tensor Tensor::clone(std::source_location loc) const {
  return duet::clone(*this, loc);
}
Tensor Tensor::to(DType t, std::source_location loc) const {
  return t == dtype() ? *this : duet::cast(*this, t, loc);
}
Tensor Tensor::to(Device d, std::source_location loc) const {
  return d == device() ? *this : duet::to_device(*this, d, loc);
}
Tensor Tensor::reshape(const Shape& s, std::source_location loc) const {
  return duet::reshape(*this, s, loc);
}
Tensor Tensor::permute(const std::vector<int64_t>& axes, std::source_location loc) const {
  return duet::permute(*this, axes, loc);
}
Tensor Tensor::transpose(int64_t a, int64_t b, std::source_location loc) const {
  return duet::transpose(*this, a, b, loc);
}
Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step,
                     std::source_location loc) const {
  return duet::slice(*this, axis, start, end, step, loc);
}
Tensor Tensor::expand(const Shape& s, std::source_location loc) const {
  return duet::expand(*this, s, loc);
}
Tensor Tensor::squeeze(int64_t axis, std::source_location loc) const {
  return duet::squeeze(*this, axis, loc);
}
Tensor Tensor::unsqueeze(int64_t axis, std::source_location loc) const {
  return duet::unsqueeze(*this, axis, loc);
}
Tensor Tensor::flatten(int64_t s, int64_t e, std::source_location loc) const {
  return duet::flatten(*this, s, e, loc);
}

// ---- in-place ----

Tensor& Tensor::fill_(double value) {
  DUET_CHECK(!(requires_grad() && is_leaf() && grad_enabled()),
             "fill_: in-place write to a leaf that requires grad; wrap it in duet::NoGradGuard");
  if (device().type != DeviceType::cpu) {
    detail::cuda_fill(*this, value);
    impl_->storage->version++;
    return *this;
  }
  // Broadcast a stack scalar (no allocation: graph steps must not allocate).
  auto src = std::make_shared<detail::TensorImpl>();
  src->storage = std::make_shared<detail::Storage>(&value, sizeof(double), device());
  src->shape = shape();
  src->strides = Shape(dim(), 0);
  src->dtype = float64;
  src->device = device();
  detail::strided_copy(Tensor(std::move(src)), *this);
  impl_->storage->version++;
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_defined(src, "copy_");
  DUET_CHECK(!(requires_grad() && is_leaf() && grad_enabled()),
             "copy_: in-place write to a leaf that requires grad; wrap it in duet::NoGradGuard");
  Shape b = broadcast_shapes(src.shape(), shape(), "copy_");
  DUET_CHECK(b == shape(), "copy_: source of shape ", shape_str(src.shape()),
             " cannot be broadcast to destination shape ", shape_str(shape()));
  // src may alias this tensor's storage: copy it first. Then view it with broadcast strides.
  Tensor s = src.impl()->storage == impl_->storage ? detail::contiguous_copy(src) : src;
  Shape st(dim(), 0);
  int64_t lead = dim() - s.dim();
  for (int64_t i = 0; i < s.dim(); ++i) st[lead + i] = s.shape()[i] == 1 ? 0 : s.strides()[i];
  detail::strided_copy(detail::make_view(s, shape(), st, s.storage_offset()), *this);
  impl_->storage->version++;
  return *this;
}

// ---- autograd ----

bool Tensor::requires_grad() const {
  return impl_ && impl_->requires_grad;
}

Tensor& Tensor::requires_grad_(bool value) {
  check_defined(*this, "requires_grad_");
  DUET_CHECK(!value || is_floating(dtype()),
             "requires_grad_: only floating tensors can require "
             "gradients, this one has dtype ",
             dtype());
  DUET_CHECK(is_leaf() || value,
             "requires_grad_: cannot turn off requires_grad on a non-leaf "
             "tensor; use detach()");
  impl_->requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const {
  check_defined(*this, "grad");
  return impl_->grad ? Tensor(impl_->grad) : Tensor();
}
void Tensor::set_grad(const Tensor& g) const {
  check_defined(*this, "set_grad");
  if (g.defined())
    DUET_CHECK(g.shape() == shape(), "set_grad: gradient of shape ", shape_str(g.shape()),
               " for a tensor of shape ", shape_str(shape()));
  impl_->grad = g.impl_ptr();
}
void Tensor::zero_grad() const {
  if (impl_) impl_->grad.reset();
}
bool Tensor::is_leaf() const {
  return !impl_ || impl_->grad_fn == nullptr;
}

Tensor Tensor::detach() const {
  check_defined(*this, "detach");
  auto impl = std::make_shared<detail::TensorImpl>(*impl_);
  impl->requires_grad = false;
  impl->grad.reset();
  impl->grad_fn.reset();
  impl->output_nr = 0;
  return Tensor(std::move(impl));
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  duet::backward({*this}, {gradient}, retain_graph);
}

}  // namespace duet
