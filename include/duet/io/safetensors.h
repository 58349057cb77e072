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
// dtypes: F32, F64, I64, BOOL, F16 and BF16 are read and written as float32, float64, int64,
// bool, float16 and bfloat16, bit for bit. load_state_dict / load_weights convert a file's
// tensor to the dtype of the model's parameter (F16/BF16 into float32: exactly).
// Any other dtype (I8, U8, I16, I32, U32, U64, F8_*) is an error naming the key and dtype.
//
// Every malformed file (missing, too short, absurd or oversized header, invalid JSON,
// duplicate keys, an entry without dtype/shape/data_offsets, negative or non-integer dims,
// offsets outside the data buffer, a byte count that does not match the shape, overlapping
// tensors, truncated data) throws duet::Error naming the file, the key and the values.
//
// Limits (hostile files; docs/security.md): the header is at most 100,000,000 bytes; its JSON
// nests at most 3 levels (header object, entry, shape/data_offsets), checked before it is
// parsed; only spaces may follow the JSON inside the header length; a shape has at most 64
// dims and its byte count (and its strides: a zero dim does not excuse the others) must fit
// in int64; the tensors must tile the data buffer exactly (no gap, no overlap, no trailing
// bytes), as the reference reader requires; nothing is allocated before the header's claims
// are checked against the file size. Error messages quote at most ~200 characters of a key
// or value. Any path open(2) accepts works (a regular file; /proc/self/fd/N of a memfd).
#pragma once

#include <map>
#include <string>

#include "duet/nn/module.h"

namespace duet::io {

// Writes `tensors` (CPU, defined, unique non-empty names, not "__metadata__") in the given
// order; non-contiguous tensors are written contiguous. The file is written to a temporary
// `path.tmp.XXXXXX` (unique per writer, mkstemp), fsynced, renamed over `path`, and the
// directory fsynced: a failed save, a crash or a kill -9 at any moment leaves either the
// previous file at `path` or the complete new one, and concurrent writers never collide.
void save_safetensors(const std::string& path, const nn::StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Every tensor of the file (CPU, contiguous), in the order of their data offsets.
nn::StateDict load_safetensors(const std::string& path);

// The "__metadata__" object ({} when absent). Validates the whole header, reads no data.
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

// The tensors and the metadata of one file, from one open and one read (checkpoints).
struct SafetensorsFile {
  nn::StateDict tensors{};
  std::map<std::string, std::string> metadata{};
};
SafetensorsFile load_safetensors_file(const std::string& path);

// save_safetensors(path, module.state_dict(), {{"format", "pt"}}).
void save_weights(const nn::Module& module, const std::string& path);
// module.load_state_dict(load_safetensors(path)) (strict): a missing key, an unexpected key
// or a shape mismatch throws duet::Error naming the file, the key and both shapes, and
// leaves every parameter and buffer unchanged.
void load_weights(nn::Module& module, const std::string& path);

}  // namespace duet::io
