// Reading and writing safetensors files, the weight format of Hugging Face and PyTorch hubs.
//
//   duet::io::save_safetensors("w.safetensors", net->state_dict(), {{"format", "pt"}});
//   duet::nn::StateDict sd = duet::io::load_safetensors("w.safetensors");
//   auto meta = duet::io::load_safetensors_metadata("w.safetensors");  // {"format": "pt"}
//   duet::io::save_weights(*net, "w.safetensors");
//   duet::io::load_weights(*net, "w.safetensors");  // all-or-nothing; errors name the key
//
// Layout: an 8-byte little-endian u64 header length N, N bytes of JSON
//   {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
//    "data_offsets": [begin, end]}, ...}
// (padded with spaces to a multiple of 8 bytes), then the raw little-endian data buffer;
// offsets are relative to the start of that buffer.
//
// dtypes: F32, F64, I64 and BOOL are read and written as float32, float64, int64 and bool.
// F16 and BF16 are read and converted to float32 (exactly: every half value is a float).
// Any other dtype (I8, U8, I16, I32, U32, U64, F8_*) is an error naming the key and dtype.
//
// Every malformed file (missing, too short, absurd or oversized header, invalid JSON,
// duplicate keys, an entry without dtype/shape/data_offsets, negative or non-integer dims,
// offsets outside the data buffer, a byte count that does not match the shape, overlapping
// tensors, truncated data) throws duet::Error naming the file, the key and the values.
#pragma once

#include <map>
#include <string>

#include "duet/nn/module.h"

namespace duet::io {

// Writes `tensors` (CPU, defined, unique non-empty names, not "__metadata__") in the given
// order; non-contiguous tensors are written contiguous. The file is written to path + ".tmp"
// and renamed over `path`, so a failed save leaves no half-written `path`.
void save_safetensors(const std::string& path, const nn::StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Every tensor of the file (CPU, contiguous), in the order of their data offsets.
nn::StateDict load_safetensors(const std::string& path);

// The "__metadata__" object ({} when absent). Validates the whole header, reads no data.
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

// save_safetensors(path, module.state_dict(), {{"format", "pt"}}).
void save_weights(const nn::Module& module, const std::string& path);
// module.load_state_dict(load_safetensors(path)) (strict): a missing key, an unexpected key
// or a shape mismatch throws duet::Error naming the file, the key and both shapes, and
// leaves every parameter and buffer unchanged.
void load_weights(nn::Module& module, const std::string& path);

}  // namespace duet::io
