// safetensors reader and writer: header parsing and validation, dtype conversion, atomic save.
#include "duet/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "duet/autograd.h"

namespace duet::io {
namespace {

using Json = nlohmann::ordered_json;

// A header longer than this is not a weights file (the Python library uses the same bound).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// How a file dtype becomes a duet tensor.
enum class Convert { native, f16, bf16, unsupported };

struct FileDtype {
  const char* name;
  size_t itemsize;
  Convert convert;
  DType dtype;  // the dtype of the loaded tensor
};

// Every dtype the safetensors format defines.
constexpr FileDtype kFileDtypes[] = {
    {"F32", 4, Convert::native, DType::float32},
    {"F64", 8, Convert::native, DType::float64},
    {"I64", 8, Convert::native, DType::int64},
    {"BOOL", 1, Convert::native, DType::bool_},
    {"F16", 2, Convert::f16, DType::float32},
    {"BF16", 2, Convert::bf16, DType::float32},
    {"I8", 1, Convert::unsupported, DType::float32},
    {"U8", 1, Convert::unsupported, DType::float32},
    {"I16", 2, Convert::unsupported, DType::float32},
    {"U16", 2, Convert::unsupported, DType::float32},
    {"I32", 4, Convert::unsupported, DType::float32},
    {"U32", 4, Convert::unsupported, DType::float32},
    {"U64", 8, Convert::unsupported, DType::float32},
    {"F8_E5M2", 1, Convert::unsupported, DType::float32},
    {"F8_E4M3", 1, Convert::unsupported, DType::float32},
};

const char* file_dtype_name(DType t) {
  switch (t) {
    case DType::float32:
      return "F32";
    case DType::float64:
      return "F64";
    case DType::int64:
      return "I64";
    case DType::bool_:
      return "BOOL";
    case DType::float16:
      return "F16";
    case DType::bfloat16:
      return "BF16";
  }
  return "?";
}

// One tensor entry of the header, validated against the data buffer.
struct Entry {
  std::string key;
  const FileDtype* dtype = nullptr;
  Shape shape;
  uint64_t begin = 0, end = 0;
  size_t header_index = 0;
};

struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<Entry> entries;  // sorted by data offset
  uint64_t data_start = 0;     // file offset of the data buffer
  uint64_t data_size = 0;
};

// "[10, 5]": shapes as the file's JSON writes them.
std::string json_shape(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

std::string json_offsets(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

// Little-endian file bytes <-> host values.
void swap_if_big_endian(void* data, size_t itemsize, size_t count) {
  if constexpr (std::endian::native == std::endian::little) return;
  auto* p = static_cast<unsigned char*>(data);
  for (size_t i = 0; i < count; ++i) std::reverse(p + i * itemsize, p + (i + 1) * itemsize);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  const uint32_t bits =
      exp == 31 ? sign | 0x7f800000u | (mant << 13) : sign | ((exp + 112) << 23) | (mant << 13);
  return std::bit_cast<float>(bits);
}

float bfloat16_to_float(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

// Reads a non-negative JSON integer; `what` describes it for the error.
uint64_t json_uint(const Json& j, const std::string& where, const std::string& what) {
  DUET_CHECK(j.is_number_integer(), where, what, " is ", j.dump(),
             " (expected a non-negative integer)");
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  const int64_t v = j.get<int64_t>();
  DUET_CHECK(v >= 0, where, what, " is ", v, " (expected a non-negative integer)");
  return static_cast<uint64_t>(v);
}

Entry parse_entry(const std::string& key, const Json& j, const std::string& where) {
  const std::string at = where + "key '" + key + "': ";
  DUET_CHECK(j.is_object(), at, "the entry is ", j.dump(),
             " (expected an object with dtype, shape and data_offsets)");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    DUET_CHECK(j.contains(field), at, "the entry has no \"", field, "\" (expected dtype, shape ",
               "and data_offsets; got ", j.dump(), ")");
  Entry e;
  e.key = key;
  const Json& dt = j.at("dtype");
  DUET_CHECK(dt.is_string(), at, "dtype is ", dt.dump(), " (expected a string such as \"F32\")");
  const std::string dname = dt.get<std::string>();
  for (const auto& fd : kFileDtypes)
    if (dname == fd.name) e.dtype = &fd;
  DUET_CHECK(e.dtype != nullptr, at, "unknown dtype '", dname,
             "' (expected one of F32, F64, I64, BOOL, F16, BF16)");
  DUET_CHECK(e.dtype->convert != Convert::unsupported, at, "dtype ", dname,
             " is not supported (duet reads F32, F64, I64, BOOL, and F16/BF16 as float32)");

  const Json& sh = j.at("shape");
  DUET_CHECK(sh.is_array(), at, "shape is ", sh.dump(), " (expected a list of integers)");
  for (const Json& d : sh) {
    DUET_CHECK(d.is_number_integer(), at, "shape ", sh.dump(), " has the non-integer dim ",
               d.dump(), " (expected non-negative integers)");
    DUET_CHECK(d.is_number_unsigned() || d.get<int64_t>() >= 0, at, "shape ", sh.dump(),
               " has the negative dim ", d.dump(), " (expected non-negative integers)");
    const uint64_t v = d.get<uint64_t>();
    DUET_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), at, "shape ",
               sh.dump(), " has the dim ", v, ", too large for int64");
    e.shape.push_back(static_cast<int64_t>(v));
  }

  const Json& off = j.at("data_offsets");
  DUET_CHECK(off.is_array() && off.size() == 2, at, "data_offsets is ", off.dump(),
             " (expected [begin, end])");
  e.begin = json_uint(off[0], at, "data_offsets[0]");
  e.end = json_uint(off[1], at, "data_offsets[1]");
  DUET_CHECK(e.begin <= e.end, at, "data_offsets ", json_offsets(e.begin, e.end),
             " have begin > end (expected [begin, end] with begin <= end)");
  return e;
}

// Byte count of `e` from its shape, or throws when it does not fit in 64 bits.
uint64_t expected_bytes(const Entry& e, const std::string& at) {
  const uint64_t limit = std::numeric_limits<int64_t>::max();
  bool zero = false;
  for (int64_t d : e.shape) zero = zero || d == 0;
  if (zero) return 0;
  uint64_t n = 1;
  for (int64_t d : e.shape) {
    DUET_CHECK(n <= limit / static_cast<uint64_t>(d), at, "shape ", json_shape(e.shape),
               " has too many elements (more than 2^63)");
    n *= static_cast<uint64_t>(d);
  }
  DUET_CHECK(n <= limit / e.dtype->itemsize, at, "shape ", json_shape(e.shape), " ", e.dtype->name,
             " needs more than 2^63 bytes");
  return n * e.dtype->itemsize;
}

struct InputFile {
  std::ifstream in;
  uint64_t size = 0;
};

void open_file(InputFile& f, const std::string& path, const std::string& where) {
  std::error_code ec;
  DUET_CHECK(!std::filesystem::is_directory(path, ec), where,
             "is a directory (expected a safetensors file)");
  errno = 0;
  f.in.open(path, std::ios::binary);
  DUET_CHECK(f.in.is_open(), where, "cannot open the file (",
             errno ? std::strerror(errno) : "unknown error", ")");
  f.in.seekg(0, std::ios::end);
  const std::streamoff size = f.in.tellg();
  DUET_CHECK(size >= 0 && f.in.good(), where, "cannot read the file size");
  f.size = static_cast<uint64_t>(size);
  f.in.seekg(0, std::ios::beg);
}

Header read_header(InputFile& f, const std::string& where) {
  DUET_CHECK(f.size >= 8, where, "the file is ", f.size,
             " bytes, too short for a safetensors file (expected at least 8 bytes: the header "
             "length)");
  unsigned char len_bytes[8];
  f.in.read(reinterpret_cast<char*>(len_bytes), 8);
  DUET_CHECK(f.in.gcount() == 8, where, "cannot read the header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  DUET_CHECK(n <= kMaxHeaderBytes, where, "the header length ", n, " is absurd (more than ",
             kMaxHeaderBytes, " bytes; not a safetensors file?)");
  DUET_CHECK(n <= f.size - 8, where, "the header length ", n,
             " is larger than the rest of the file (", f.size - 8,
             " bytes after the 8-byte length; truncated or not a safetensors file?)");
  std::string text(n, '\0');
  f.in.read(text.data(), static_cast<std::streamsize>(n));
  DUET_CHECK(static_cast<uint64_t>(f.in.gcount()) == n, where, "cannot read the ", n,
             "-byte header");

  // Duplicate keys at any level are an error (nlohmann would keep the last one silently).
  std::vector<std::set<std::string>> keys_at_depth;
  auto on_event = [&](int, Json::parse_event_t ev, Json& parsed) {
    if (ev == Json::parse_event_t::object_start) keys_at_depth.emplace_back();
    if (ev == Json::parse_event_t::object_end && !keys_at_depth.empty()) keys_at_depth.pop_back();
    if (ev == Json::parse_event_t::key && !keys_at_depth.empty()) {
      const std::string key = parsed.get<std::string>();
      DUET_CHECK(keys_at_depth.back().insert(key).second, where, "the header has the key '", key,
                 "' more than once", keys_at_depth.size() == 1 ? "" : " inside one entry",
                 " (expected unique keys)");
    }
    return true;
  };
  Json j;
  try {
    j = Json::parse(text, on_event);
  } catch (const Json::exception& e) {
    throw Error(detail::cat(where, "the ", n, "-byte header is not valid JSON (", e.what(), ")"));
  }
  DUET_CHECK(j.is_object(), where, "the header is ", j.type_name(),
             " (expected a JSON object of tensor entries)");

  Header h;
  h.data_start = 8 + n;
  h.data_size = f.size - h.data_start;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      DUET_CHECK(value.is_object(), where, "__metadata__ is ", value.dump(),
                 " (expected an object of string values)");
      for (const auto& [mk, mv] : value.items()) {
        DUET_CHECK(mv.is_string(), where, "__metadata__ key '", mk, "' holds ", mv.dump(),
                   " (expected a string)");
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    Entry e = parse_entry(key, value, where);
    e.header_index = h.entries.size();
    const std::string at = where + "key '" + key + "': ";
    const uint64_t need = expected_bytes(e, at);
    DUET_CHECK(e.end - e.begin == need, at, "shape ", json_shape(e.shape), " ", e.dtype->name,
               " needs ", need, " bytes, data_offsets give ", e.end - e.begin);
    DUET_CHECK(e.end <= h.data_size, at, "data_offsets ", json_offsets(e.begin, e.end),
               " reach past the end of the data buffer, which holds ", h.data_size,
               " bytes (the file is truncated or the offsets are wrong)");
    h.entries.push_back(std::move(e));
  }
  std::stable_sort(h.entries.begin(), h.entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  const Entry* prev = nullptr;  // the non-empty entry ending last so far
  for (const Entry& e : h.entries) {
    if (e.begin == e.end) continue;
    DUET_CHECK(prev == nullptr || e.begin >= prev->end, where, "key '", e.key, "' (data_offsets ",
               json_offsets(e.begin, e.end), ") overlaps key '", prev->key, "' (data_offsets ",
               json_offsets(prev->begin, prev->end), "); expected disjoint byte ranges");
    prev = &e;
  }
  return h;
}

Tensor read_entry(InputFile& f, const Header& h, const Entry& e, const std::string& where) {
  const FileDtype& fd = *e.dtype;
  Tensor t = Tensor::empty(e.shape, fd.dtype);
  const uint64_t bytes = e.end - e.begin;
  if (bytes == 0) return t;
  const size_t count = bytes / fd.itemsize;
  auto read_into = [&](void* dst) {
    f.in.seekg(static_cast<std::streamoff>(h.data_start + e.begin), std::ios::beg);
    f.in.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes));
    DUET_CHECK(f.in.good() && static_cast<uint64_t>(f.in.gcount()) == bytes, where, "key '", e.key,
               "': cannot read ", bytes, " bytes at data offset ", e.begin,
               " (the file is truncated or unreadable)");
  };
  if (fd.convert == Convert::native) {
    read_into(t.data_ptr());
    swap_if_big_endian(t.data_ptr(), fd.itemsize, count);
    if (fd.dtype == DType::bool_) {  // any non-zero byte is true
      auto* p = static_cast<unsigned char*>(t.data_ptr());
      for (size_t i = 0; i < count; ++i) p[i] = p[i] != 0;
    }
    return t;
  }
  std::vector<uint16_t> half(count);
  read_into(half.data());
  swap_if_big_endian(half.data(), 2, count);
  float* out = t.data<float>();
  for (size_t i = 0; i < count; ++i)
    out[i] = fd.convert == Convert::f16 ? half_to_float(half[i]) : bfloat16_to_float(half[i]);
  return t;
}

std::string where_of(const char* fn, const std::string& path) {
  return detail::cat(fn, ": '", path, "': ");
}

}  // namespace

nn::StateDict load_safetensors(const std::string& path) {
  const std::string where = where_of("load_safetensors", path);
  InputFile f;
  open_file(f, path, where);
  const Header h = read_header(f, where);
  nn::StateDict out;
  out.reserve(h.entries.size());
  for (const Entry& e : h.entries) out.emplace_back(e.key, read_entry(f, h, e, where));
  return out;
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  const std::string where = where_of("load_safetensors_metadata", path);
  InputFile f;
  open_file(f, path, where);
  return read_header(f, where).metadata;
}

void save_safetensors(const std::string& path, const nn::StateDict& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string where = where_of("save_safetensors", path);
  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  std::vector<Tensor> data;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    DUET_CHECK(!name.empty(), where, "a tensor has an empty name (expected a non-empty key)");
    DUET_CHECK(name != "__metadata__", where,
               "the key '__metadata__' is reserved for metadata (rename the tensor)");
    DUET_CHECK(names.insert(name).second, where, "key '", name,
               "' appears more than once (expected unique keys)");
    DUET_CHECK(t.defined(), where, "key '", name, "' holds an undefined tensor");
    DUET_CHECK(!t.is_symbolic(), where, "key '", name,
               "' is a graph-mode (symbolic) tensor that holds no data");
    Tensor c;
    {
      NoGradGuard no_grad;
      c = t.detach().to(cpu);  // a GPU model's weights are copied to the host
      if (!c.is_contiguous()) c = c.contiguous();
    }
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", file_dtype_name(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {
    throw Error(detail::cat(where, "a key or metadata string is not valid UTF-8 (", e.what(), ")"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data buffer starts 8-byte aligned

  const std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& what) {
    const std::string reason = errno ? std::strerror(errno) : "unknown error";
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw Error(detail::cat(where, what, " (", reason, ")"));
  };
  {
    errno = 0;
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out.is_open()) fail("cannot open '" + tmp + "' for writing");
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(text.size() >> (8 * i));
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Tensor& c : data) {
      const size_t item = dtype_size(c.dtype()), n = static_cast<size_t>(c.numel());
      if (n == 0) continue;
      if constexpr (std::endian::native == std::endian::little) {
        out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(n * item));
      } else {
        std::vector<char> buf(static_cast<const char*>(c.data_ptr()),
                              static_cast<const char*>(c.data_ptr()) + n * item);
        swap_if_big_endian(buf.data(), item, n);
        out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      }
      if (!out) break;
    }
    out.flush();
    if (!out) fail("cannot write '" + tmp + "'");
    out.close();
    if (out.fail()) fail("cannot close '" + tmp + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string reason = ec.message();
    std::filesystem::remove(tmp, ec);
    throw Error(detail::cat(where, "cannot rename '", tmp, "' to '", path, "' (", reason, ")"));
  }
}

void save_weights(const nn::Module& module, const std::string& path) {
  save_safetensors(path, module.state_dict(), {{"format", "pt"}});
}

void load_weights(nn::Module& module, const std::string& path) {
  const nn::StateDict dict = load_safetensors(path);
  try {
    module.load_state_dict(dict);
  } catch (const Error& e) {
    throw Error(detail::cat("load_weights: '", path, "': ", e.what()));
  }
}

}  // namespace duet::io
