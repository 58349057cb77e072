// The generated ONNX protobuf classes (protoc, onnx.proto from libonnx-dev:
// <build>/generated/onnx/onnx.pb.h, package ::onnx) and the conversions between ONNX's
// element types and tensors and duet's, shared by the importer and the exporter.
//
//   ::onnx::ModelProto m;                       // always spelled ::onnx (duet::onnx is ours)
//   DType t = dtype_from_onnx(elem_type, "initializer 'w'");   // throws for unsupported
//   Tensor w = tensor_from_proto(m.graph().initializer(0), "model.onnx", limits);
#pragma once

#include <cstdint>
#include <string>

#include "duet/dtype.h"
#include "duet/tensor.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuseless-cast"
#endif
#endif
#include "onnx.pb.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace duet::onnx::detail {

// The ai.onnx opsets: import reads 7 ... 17 (ONNX 1.12, IR version 8); export writes 13 ... 17.
inline constexpr int64_t kMinImportOpset = 7;
inline constexpr int64_t kMaxImportOpset = 17;
inline constexpr int64_t kMinExportOpset = 13;
inline constexpr int64_t kMaxExportOpset = 17;
inline constexpr int64_t kIrVersion = 8;  // written by export (ONNX 1.12)

// ONNX's TensorProto::DataType name ("FLOAT", "INT32", ...; "<n>" for an unknown value).
const char* onnx_dtype_name(int32_t elem_type);
// duet's dtype for an ONNX element type: FLOAT, DOUBLE, INT64 and BOOL map to themselves,
// INT32 is widened to int64 (duet has no int32); anything else throws duet::Error
// "<where>: element type FLOAT16 is not supported (supported: FLOAT, DOUBLE, INT64, INT32
// (read as int64), BOOL)".
DType dtype_from_onnx(int32_t elem_type, const std::string& where);
// ONNX's element type for a duet dtype (float16/bfloat16 included).
int32_t onnx_dtype(DType t);

struct TensorLimits {
  int64_t max_bytes = int64_t{1} << 32;  // bytes of the decoded tensor
  int max_dims = 64;
};
// Decodes a TensorProto (raw_data or the typed repeated fields; external data is an error)
// into a contiguous CPU tensor. Validates before allocating: dims >= 0, element count and
// byte count without int64 overflow and within `limits`, the data's size equal to the shape's
// (raw_data bytes or the repeated field's length), a known data_type. Errors name `where`
// (the file) and the tensor's name.
Tensor tensor_from_proto(const ::onnx::TensorProto& proto, const std::string& where,
                         const TensorLimits& limits = {});
// Encodes a CPU tensor (any layout; written contiguous, little-endian raw_data).
void tensor_to_proto(const Tensor& t, const std::string& name, ::onnx::TensorProto* proto);

}  // namespace duet::onnx::detail
