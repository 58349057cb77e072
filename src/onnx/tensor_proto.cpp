// ONNX TensorProto <-> duet tensors (src/onnx/proto.h), and the public load_tensor /
// save_tensor / available(). A TensorProto is hostile input: its dims, data type and data
// size are checked before anything is allocated.
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "duet/error.h"
#include "duet/onnx.h"
#include "io/reader.h"
#include "onnx/model_impl.h"
#include "onnx/proto.h"

namespace duet::onnx {
namespace detail {

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; duet's ONNX reader assumes a little-endian host");

namespace {

using ::onnx::TensorProto;

// Bytes of one element as ONNX stores it in raw_data (0: not a fixed-size type).
int64_t onnx_elem_bytes(int32_t t) {
  switch (t) {
    case TensorProto::FLOAT:
    case TensorProto::INT32:
    case TensorProto::UINT32:
      return 4;
    case TensorProto::DOUBLE:
    case TensorProto::INT64:
    case TensorProto::UINT64:
    case TensorProto::COMPLEX64:
      return 8;
    case TensorProto::COMPLEX128:
      return 16;
    case TensorProto::UINT8:
    case TensorProto::INT8:
    case TensorProto::BOOL:
      return 1;
    case TensorProto::UINT16:
    case TensorProto::INT16:
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16:
      return 2;
    default:
      return 0;
  }
}

// Copies the elements of a strided CPU tensor into `dst`, row-major.
void gather_bytes(const Tensor& t, unsigned char* dst) {
  const size_t item = dtype_size(t.dtype());
  const int64_t n = t.numel();
  if (n == 0) return;
  const auto* base = static_cast<const unsigned char*>(t.data_ptr());
  if (t.is_contiguous()) {
    std::memcpy(dst, base, static_cast<size_t>(n) * item);
    return;
  }
  const Shape& shape = t.shape();
  const Shape& strides = t.strides();
  const size_t rank = shape.size();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d) off += idx[d] * strides[d];
    std::memcpy(dst + static_cast<size_t>(k) * item,
                base + static_cast<ptrdiff_t>(off) * static_cast<ptrdiff_t>(item), item);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

template <class Dst, class Field>
void copy_field(const Field& field, Tensor& out) {
  Dst* dst = out.data<Dst>();
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<Dst>(field.Get(i));
}

}  // namespace

const char* onnx_dtype_name(int32_t elem_type) {
  switch (elem_type) {
    case TensorProto::UNDEFINED:
      return "UNDEFINED";
    case TensorProto::FLOAT:
      return "FLOAT";
    case TensorProto::UINT8:
      return "UINT8";
    case TensorProto::INT8:
      return "INT8";
    case TensorProto::UINT16:
      return "UINT16";
    case TensorProto::INT16:
      return "INT16";
    case TensorProto::INT32:
      return "INT32";
    case TensorProto::INT64:
      return "INT64";
    case TensorProto::STRING:
      return "STRING";
    case TensorProto::BOOL:
      return "BOOL";
    case TensorProto::FLOAT16:
      return "FLOAT16";
    case TensorProto::DOUBLE:
      return "DOUBLE";
    case TensorProto::UINT32:
      return "UINT32";
    case TensorProto::UINT64:
      return "UINT64";
    case TensorProto::COMPLEX64:
      return "COMPLEX64";
    case TensorProto::COMPLEX128:
      return "COMPLEX128";
    case TensorProto::BFLOAT16:
      return "BFLOAT16";
    case 17:
      return "FLOAT8E4M3FN";
    case 18:
      return "FLOAT8E4M3FNUZ";
    case 19:
      return "FLOAT8E5M2";
    case 20:
      return "FLOAT8E5M2FNUZ";
    case 21:
      return "UINT4";
    case 22:
      return "INT4";
    default: {
      // One buffer per thread: the name stays valid until this thread's next unknown value.
      thread_local char buf[16];
      std::snprintf(buf, sizeof buf, "<%d>", static_cast<int>(elem_type));
      return buf;
    }
  }
}

DType dtype_from_onnx(int32_t elem_type, const std::string& where) {
  switch (elem_type) {
    case TensorProto::FLOAT:
      return float32;
    case TensorProto::DOUBLE:
      return float64;
    case TensorProto::INT64:
    case TensorProto::INT32:
      return int64;
    case TensorProto::BOOL:
      return bool_;
    default:
      throw Error(cat(where, ": element type ", onnx_dtype_name(elem_type),
                      " is not supported (supported: FLOAT, DOUBLE, INT64, INT32 (read as "
                      "int64), BOOL)"));
  }
}

int32_t onnx_dtype(DType t) {
  switch (t) {
    case DType::float32:
      return TensorProto::FLOAT;
    case DType::float64:
      return TensorProto::DOUBLE;
    case DType::int64:
      return TensorProto::INT64;
    case DType::bool_:
      return TensorProto::BOOL;
    case DType::float16:
      return TensorProto::FLOAT16;
    case DType::bfloat16:
      return TensorProto::BFLOAT16;
  }
  throw Error(cat("onnx: dtype ", dtype_name(t), " has no ONNX element type"));
}

Tensor decode_tensor(const TensorProto& proto, const std::string& where,
                     const TensorLimits& limits) {
  auto fail = [&](const std::string& what) -> Error { return Error(where + ": " + what); };
  if (proto.has_data_location() && proto.data_location() == TensorProto::EXTERNAL)
    throw fail(
        "external data is not supported (data_location EXTERNAL; save the model with "
        "its tensors inside the file)");
  if (proto.has_segment()) throw fail("segmented tensors are not supported");
  const int32_t elem = proto.data_type();
  const DType dtype = dtype_from_onnx(elem, where);
  if (proto.dims_size() > limits.max_dims)
    throw fail(cat("has ", proto.dims_size(), " dims, more than the limit of ", limits.max_dims));
  Shape shape(static_cast<size_t>(proto.dims_size()));
  // Elements, checked without overflow; a zero dim does not excuse an absurd other one.
  int64_t numel = 1;
  int64_t nonzero = 1;
  for (int i = 0; i < proto.dims_size(); ++i) {
    const int64_t d = proto.dims(i);
    if (d < 0) throw fail(cat("dim ", i, " is ", d, " (expected >= 0)"));
    shape[static_cast<size_t>(i)] = d;
    if (d == 0) {
      numel = 0;
      continue;
    }
    if (nonzero > std::numeric_limits<int64_t>::max() / d)
      throw fail(cat("shape ", shape_str(Shape(proto.dims().begin(), proto.dims().end())),
                     " has more elements than fit in int64"));
    nonzero *= d;
    if (numel != 0) numel = nonzero;
  }
  const int64_t item = static_cast<int64_t>(dtype_size(dtype));
  if (nonzero > limits.max_bytes / item)
    throw fail(cat("shape ", shape_str(shape), " of ", onnx_dtype_name(elem), " is more than ",
                   limits.max_bytes, " bytes (the limit; LoadOptions::max_tensor_bytes)"));

  const std::string& raw = proto.raw_data();
  int64_t have = 0;
  const char* field = "";
  if (proto.has_raw_data()) {
    const int64_t eb = onnx_elem_bytes(elem);
    if (static_cast<int64_t>(raw.size()) != numel * eb)
      throw fail(cat("raw_data holds ", raw.size(), " bytes, but shape ", shape_str(shape), " of ",
                     onnx_dtype_name(elem), " needs ", numel * eb));
    have = numel;
  } else {
    switch (elem) {
      case TensorProto::FLOAT:
        have = proto.float_data_size();
        field = "float_data";
        break;
      case TensorProto::DOUBLE:
        have = proto.double_data_size();
        field = "double_data";
        break;
      case TensorProto::INT64:
        have = proto.int64_data_size();
        field = "int64_data";
        break;
      default:
        have = proto.int32_data_size();
        field = "int32_data";
        break;
    }
    if (have != numel)
      throw fail(
          cat(field, " holds ", have, " values, but shape ", shape_str(shape), " needs ", numel));
  }

  Tensor out = Tensor::empty(shape, dtype);
  if (numel == 0) return out;
  if (proto.has_raw_data()) {
    const auto* src = reinterpret_cast<const unsigned char*>(raw.data());
    switch (elem) {
      case TensorProto::INT32: {
        int64_t* dst = out.data<int64_t>();
        for (int64_t i = 0; i < numel; ++i) {
          int32_t v;
          std::memcpy(&v, src + 4 * i, 4);
          dst[i] = v;
        }
        break;
      }
      case TensorProto::BOOL: {
        bool* dst = out.data<bool>();
        for (int64_t i = 0; i < numel; ++i) dst[i] = src[i] != 0;
        break;
      }
      default:
        std::memcpy(out.data_ptr(), src, static_cast<size_t>(numel * item));
    }
    return out;
  }
  switch (elem) {
    case TensorProto::FLOAT:
      copy_field<float>(proto.float_data(), out);
      break;
    case TensorProto::DOUBLE:
      copy_field<double>(proto.double_data(), out);
      break;
    case TensorProto::INT64:
      copy_field<int64_t>(proto.int64_data(), out);
      break;
    case TensorProto::INT32:
      copy_field<int64_t>(proto.int32_data(), out);
      break;
    case TensorProto::BOOL: {
      bool* dst = out.data<bool>();
      for (int i = 0; i < proto.int32_data_size(); ++i) dst[i] = proto.int32_data(i) != 0;
      break;
    }
    default:
      break;  // dtype_from_onnx admitted no other type
  }
  return out;
}

std::string tensor_where(const std::string& where, const std::string& name) {
  return cat("onnx: ", where, ": tensor ", quoted(name));
}

Tensor tensor_from_proto(const TensorProto& proto, const std::string& where,
                         const TensorLimits& limits) {
  return decode_tensor(proto, tensor_where(where, proto.name()), limits);
}

void tensor_to_proto(const Tensor& t, const std::string& name, TensorProto* proto) {
  DUET_CHECK(t.defined(), "onnx: tensor_to_proto: tensor '", name, "' is undefined");
  DUET_CHECK(!t.is_symbolic(), "onnx: tensor_to_proto: tensor '", name,
             "' is symbolic (a graph value holds no data)");
  DUET_CHECK(t.device() == cpu, "onnx: tensor_to_proto: tensor '", name, "' is on ",
             t.device().str(), " (expected a CPU tensor)");
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(onnx_dtype(t.dtype()));
  for (int64_t d : t.shape()) proto->add_dims(d);
  const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
  std::string* raw = proto->mutable_raw_data();
  raw->resize(bytes);
  gather_bytes(t, reinterpret_cast<unsigned char*>(raw->data()));
}

std::vector<unsigned char> read_onnx_file(const std::string& path, int64_t max_bytes,
                                          const char* what) {
  io::FileSource src(path, cat("onnx: ", path, ": "), what);
  DUET_CHECK(src.size() <= static_cast<uint64_t>(max_bytes), "onnx: ", path, ": the file is ",
             src.size(), " bytes, more than the limit of ", max_bytes,
             " (LoadOptions::max_file_bytes)");
  DUET_CHECK(src.size() <= static_cast<uint64_t>(std::numeric_limits<int>::max()), "onnx: ", path,
             ": the file is ", src.size(),
             " bytes; protobuf reads at most 2 GiB - 1 (external data is not supported)");
  std::vector<unsigned char> bytes(static_cast<size_t>(src.size()));
  src.read_exact(bytes.data(), bytes.size(), "the protobuf");
  return bytes;
}

}  // namespace detail

bool available() {
  return true;
}

Tensor load_tensor(const std::string& path) {
  std::vector<unsigned char> bytes =
      detail::read_onnx_file(path, int64_t{1} << 31, "a TensorProto file");
  ::onnx::TensorProto proto;
  DUET_CHECK(proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())), "onnx: ", path,
             ": not a valid TensorProto (protobuf parse failed; truncated or not a tensor?)");
  return detail::tensor_from_proto(proto, path);
}

void save_tensor(const Tensor& t, const std::string& path, const std::string& name) {
  ::onnx::TensorProto proto;
  detail::tensor_to_proto(t, name, &proto);
  std::string bytes;
  DUET_CHECK(proto.SerializeToString(&bytes), "onnx: ", path, ": serializing tensor '", name,
             "' failed");
  io::SafeWriter w(path, detail::cat("onnx: save_tensor: ", path, ": "));
  w.write(bytes.data(), bytes.size());
  w.commit();
}

}  // namespace duet::onnx
