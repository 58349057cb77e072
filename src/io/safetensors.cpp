// safetensors reader and writer: header parsing and validation, dtype conversion, crash-safe
// save. File access, size checks, the JSON depth pre-scan and quoting are io/reader.h's.
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
#include "io/reader.h"

namespace duet::io {
namespace {

using Json = nlohmann::ordered_json;

// A header longer than this is not a weights file (the Python library uses the same bound).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// The header object, an entry (or __metadata__), a shape (or data_offsets): deeper is hostile.
constexpr int kMaxJsonDepth = 3;

struct FileDtype {
  const char* name;
  size_t itemsize;
  bool supported;  // false: an error naming the key and the dtype
  DType dtype;     // the dtype of the loaded tensor (its bytes are the file's)
};

// Every dtype the safetensors format defines.
constexpr FileDtype kFileDtypes[] = {
    {"F32", 4, true, DType::float32},      {"F64", 8, true, DType::float64},
    {"I64", 8, true, DType::int64},        {"BOOL", 1, true, DType::bool_},
    {"F16", 2, true, DType::float16},      {"BF16", 2, true, DType::bfloat16},
    {"I8", 1, false, DType::float32},      {"U8", 1, false, DType::float32},
    {"I16", 2, false, DType::float32},     {"U16", 2, false, DType::float32},
    {"I32", 4, false, DType::float32},     {"U32", 4, false, DType::float32},
    {"U64", 8, false, DType::float32},     {"F8_E5M2", 1, false, DType::float32},
    {"F8_E4M3", 1, false, DType::float32},
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

// `j` as JSON text of at most about kQuoteChars characters, "..." where cut (a 1 MB bad entry
// must not make a 1 MB message). Recursion is bounded by the depth pre-scan (kMaxJsonDepth).
void dump_bounded(const Json& j, std::string& out) {
  const size_t budget = kQuoteChars - std::min(out.size(), kQuoteChars);
  if (j.is_string()) {
    out += quote(j.get_ref<const std::string&>(), budget);
  } else if (j.is_array() || j.is_object()) {
    out += j.is_array() ? '[' : '{';
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it != j.begin()) out += ",";
      if (out.size() >= kQuoteChars) {
        out += "...";
        break;
      }
      if (j.is_object()) out += quote(it.key(), kQuoteChars - out.size()) + ":";
      dump_bounded(*it, out);
    }
    out += j.is_array() ? ']' : '}';
  } else {
    out += j.dump();  // a number, bool or null
  }
}

std::string q(const Json& j) {
  std::string out;
  dump_bounded(j, out);
  return out;
}

// 'name' for a key in messages: as is when short and printable, else quote()d and cut.
std::string key_str(const std::string& key) {
  const bool plain = key.size() <= kQuoteChars && std::all_of(key.begin(), key.end(), [](char c) {
                       return (c >= 0x20 && c < 0x7f && c != '\'') || (c & 0x80);
                     });
  return plain ? "'" + key + "'" : quote(key);
}

// Little-endian file bytes <-> host values.
void swap_if_big_endian(void* data, size_t itemsize, size_t count) {
  if constexpr (std::endian::native == std::endian::little) return;
  auto* p = static_cast<unsigned char*>(data);
  for (size_t i = 0; i < count; ++i) std::reverse(p + i * itemsize, p + (i + 1) * itemsize);
}

// Reads a non-negative JSON integer; `what` describes it for the error.
uint64_t json_uint(const Json& j, const std::string& where, const std::string& what) {
  DUET_CHECK(j.is_number_integer(), where, what, " is ", q(j),
             " (expected a non-negative integer)");
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  const int64_t v = j.get<int64_t>();
  DUET_CHECK(v >= 0, where, what, " is ", v, " (expected a non-negative integer)");
  return static_cast<uint64_t>(v);
}

Entry parse_entry(const std::string& key, const Json& j, const std::string& where) {
  const std::string at = where + "key " + key_str(key) + ": ";
  DUET_CHECK(j.is_object(), at, "the entry is ", q(j),
             " (expected an object with dtype, shape and data_offsets)");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    DUET_CHECK(j.contains(field), at, "the entry has no \"", field, "\" (expected dtype, shape ",
               "and data_offsets; got ", q(j), ")");
  Entry e;
  e.key = key;
  const Json& dt = j.at("dtype");
  DUET_CHECK(dt.is_string(), at, "dtype is ", q(dt), " (expected a string such as \"F32\")");
  const std::string dname = dt.get<std::string>();
  for (const auto& fd : kFileDtypes)
    if (dname == fd.name) e.dtype = &fd;
  DUET_CHECK(e.dtype != nullptr, at, "unknown dtype ", key_str(dname),
             " (expected one of F32, F64, I64, BOOL, F16, BF16)");
  DUET_CHECK(e.dtype->supported, at, "dtype ", dname,
             " is not supported (duet reads F32, F64, I64, BOOL, F16 and BF16)");

  const Json& sh = j.at("shape");
  DUET_CHECK(sh.is_array(), at, "shape is ", q(sh), " (expected a list of integers)");
  for (const Json& d : sh) {
    DUET_CHECK(d.is_number_integer(), at, "shape ", q(sh), " has the non-integer dim ", q(d),
               " (expected non-negative integers)");
    DUET_CHECK(d.is_number_unsigned() || d.get<int64_t>() >= 0, at, "shape ", q(sh),
               " has the negative dim ", q(d), " (expected non-negative integers)");
    const uint64_t v = d.get<uint64_t>();
    DUET_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), at, "shape ", q(sh),
               " has the dim ", v, ", too large for int64");
    e.shape.push_back(static_cast<int64_t>(v));
  }

  const Json& off = j.at("data_offsets");
  DUET_CHECK(off.is_array() && off.size() == 2, at, "data_offsets is ", q(off),
             " (expected [begin, end])");
  e.begin = json_uint(off[0], at, "data_offsets[0]");
  e.end = json_uint(off[1], at, "data_offsets[1]");
  DUET_CHECK(e.begin <= e.end, at, "data_offsets ", json_offsets(e.begin, e.end),
             " have begin > end (expected [begin, end] with begin <= end)");
  return e;
}

// Checks `e` against the data buffer and adds it to `h`.
void add_entry(Header& h, Entry e, const std::string& where) {
  e.header_index = h.entries.size();
  const std::string at = where + "key " + key_str(e.key) + ": ";
  const uint64_t need = checked_bytes(e.shape, e.dtype->itemsize, at, "shape");
  DUET_CHECK(e.end - e.begin == need, at, "shape ", json_shape(e.shape), " ", e.dtype->name,
             " needs ", need, " bytes, data_offsets give ", e.end - e.begin);
  DUET_CHECK(e.end <= h.data_size, at, "data_offsets ", json_offsets(e.begin, e.end),
             " reach past the end of the data buffer, which holds ", h.data_size,
             " bytes (the file is truncated or the offsets are wrong)");
  h.entries.push_back(std::move(e));
}

// Streams the header (nlohmann's SAX interface) into `h` without a DOM of the whole header:
// each entry becomes a small JSON value of at most kMaxEntryValues values, checked and
// converted as soon as it closes; __metadata__ strings go straight into h.metadata. So a
// header costs memory in proportion to what it legitimately describes, not 16 bytes per
// JSON token (a 100 MB `[1,1,1,...]` entry stops at its 129th value). Depth <= 3 is checked
// before (check_json_depth). Duplicate keys at any level are errors.
class HeaderSax {
 public:
  // An entry holds dtype, a shape of at most kMaxRank dims and two offsets: 128 is generous.
  static constexpr int kMaxEntryValues = 128;

  HeaderSax(const std::string& where, Header& h) : where_(where), h_(h) {}

  bool null() { return scalar(Json(nullptr)); }
  bool boolean(bool v) { return scalar(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return scalar(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return scalar(Json(v)); }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return scalar(Json(v)); }
  bool string(Json::string_t& v) {
    if (in_metadata_object() && stack_.size() == 1) {  // a metadata value: no DOM
      h_.metadata[member_key_] = std::move(v);
      return true;
    }
    return scalar(Json(std::move(v)));
  }
  bool binary(Json::binary_t&) { return scalar(Json()); }  // never produced by JSON text
  bool start_object(std::size_t) { return open(Json::object()); }
  bool start_array(std::size_t) { return open(Json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(Json::string_t& k) {
    if (depth_ == 1) {  // a top-level key: an entry name or __metadata__
      DUET_CHECK(top_keys_.insert(k).second, where_, "the header has the key ", key_str(k),
                 " more than once (expected unique keys)");
      member_ = k;
      return true;
    }
    if (in_metadata_object() && stack_.size() == 1) {
      DUET_CHECK(!h_.metadata.count(k), where_, "the header has the key ", key_str(k),
                 " more than once inside one entry (expected unique keys)");
      member_key_ = pending_key_ = k;
      return true;
    }
    Json& obj = *stack_.back();
    DUET_CHECK(!obj.contains(k), where_, "the header has the key ", key_str(k),
               " more than once inside one entry (expected unique keys)");
    pending_key_ = k;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const Json::exception& e) {
    throw Error(detail::cat(where_, "the header is not valid JSON (", cut(e.what()), ")"));
  }

 private:
  bool in_metadata_object() const { return depth_ >= 2 && is_metadata_ && member_is_object_; }

  // Counts a value of the current entry; the entry's DOM stays small.
  void count() {
    if (++values_ <= kMaxEntryValues) return;
    throw Error(detail::cat(
        where_, is_metadata_ ? "__metadata__" : "key " + key_str(member_) + ": the entry",
        " holds more than ", kMaxEntryValues, " JSON values (expected ",
        is_metadata_ ? "an object of string values"
                     : "dtype, a shape of at most 64 dims and "
                       "data_offsets",
        "; got ", q(member_value_), ")"));
  }

  // Adds `v` to the innermost open container of the current entry.
  Json* add(Json v) {
    Json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    return &(parent[pending_key_] = std::move(v));
  }

  bool scalar(Json v) {
    DUET_CHECK(depth_ > 0, where_, "the header is ", v.type_name(),
               " (expected a JSON object of tensor entries)");
    if (depth_ == 1) {  // a whole entry that is a scalar
      begin_member(v.is_object());
      member_value_ = std::move(v);
      finish_member();
      return true;
    }
    if (in_metadata_object() && stack_.size() == 1)
      throw Error(detail::cat(where_, "__metadata__ key ", key_str(member_key_), " holds ", q(v),
                              " (expected a string)"));
    count();
    add(std::move(v));
    return true;
  }

  bool open(Json container) {
    if (depth_ == 0) {
      DUET_CHECK(container.is_object(), where_, "the header is ", container.type_name(),
                 " (expected a JSON object of tensor entries)");
      ++depth_;
      return true;
    }
    ++depth_;
    if (depth_ == 2) {
      begin_member(container.is_object());
      member_value_ = std::move(container);
      stack_.push_back(&member_value_);
      return true;
    }
    count();
    stack_.push_back(add(std::move(container)));
    return true;
  }

  bool close() {
    --depth_;
    if (depth_ == 0) return true;  // the header object
    const bool metadata_value =
        in_metadata_object() && stack_.size() == 2;  // a container as a metadata value
    stack_.pop_back();
    if (metadata_value)
      throw Error(detail::cat(where_, "__metadata__ key ", key_str(member_key_), " holds ",
                              q(member_value_[member_key_]), " (expected a string)"));
    if (depth_ == 1) finish_member();
    return true;
  }

  void begin_member(bool is_object) {
    is_metadata_ = member_ == "__metadata__";
    member_is_object_ = is_object;
    values_ = 0;
  }

  void finish_member() {
    if (is_metadata_) {
      DUET_CHECK(member_value_.is_object(), where_, "__metadata__ is ", q(member_value_),
                 " (expected an object of string values)");
    } else {
      add_entry(h_, parse_entry(member_, member_value_, where_), where_);
    }
    member_value_ = Json();
    is_metadata_ = false;
  }

  const std::string& where_;
  Header& h_;
  int depth_ = 0;                   // 1 inside the header object, 2 inside an entry, ...
  std::set<std::string> top_keys_;  // entry names seen (and __metadata__)
  std::string member_;              // the current top-level key
  bool is_metadata_ = false, member_is_object_ = false;
  Json member_value_;         // the current entry (small: kMaxEntryValues)
  std::vector<Json*> stack_;  // open containers of the current entry
  std::string pending_key_;   // the key of the next value inside an entry's object
  std::string member_key_;    // the current __metadata__ key
  int values_ = 0;
};

Header read_header(FileSource& f, const std::string& where) {
  DUET_CHECK(f.size() >= 8, where, "the file is ", f.size(),
             " bytes, too short for a safetensors file (expected at least 8 bytes: the header "
             "length)");
  unsigned char len_bytes[8];
  f.read_at(0, len_bytes, 8, "the header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  DUET_CHECK(n <= kMaxHeaderBytes, where, "the header length ", n, " is absurd (more than ",
             kMaxHeaderBytes, " bytes; not a safetensors file?)");
  DUET_CHECK(n <= f.size() - 8, where, "the header length ", n,
             " is larger than the rest of the file (", f.size() - 8,
             " bytes after the 8-byte length; truncated or not a safetensors file?)");
  std::string text(n, '\0');
  f.read_at(8, text.data(), n, "the header");

  // Before any parser recurses: no deeper than the format needs, and only spaces after the
  // JSON (nlohmann's lexer would stop at a NUL byte and ignore what follows it).
  const size_t end =
      check_json_depth(text, kMaxJsonDepth, where + "the header is not a safetensors header: ",
                       "a safetensors header needs 3 levels: the header, an entry, its shape");
  // nlohmann skips a UTF-8 byte order mark that the scan above would take for a scalar.
  DUET_CHECK(text.rfind("\xEF\xBB\xBF", 0) != 0, where,
             "the header starts with a UTF-8 byte order mark (expected a JSON object)");
  const size_t pad = text.find_first_not_of(' ', end);
  DUET_CHECK(pad == std::string::npos, where, "the header has ",
             quote(std::string_view(text).substr(pad, 40)), " after its JSON value at byte ", pad,
             " of ", n, " (only spaces may pad the header)");

  Header h;
  h.data_start = 8 + n;
  h.data_size = f.size() - h.data_start;
  HeaderSax sax(where, h);
  try {
    Json::sax_parse(text, &sax);
  } catch (const Json::exception& e) {  // an entry's own conversions (parse_entry)
    throw Error(
        detail::cat(where, "the ", n, "-byte header is not valid JSON (", cut(e.what()), ")"));
  }
  std::stable_sort(h.entries.begin(), h.entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  // The tensors tile the data buffer, as the reference reader requires: no overlap, no
  // unused gap, nothing after the last one (a hidden payload or a mis-cut file).
  const Entry* prev = nullptr;  // the non-empty entry ending last so far
  for (const Entry& e : h.entries) {
    if (e.begin == e.end) continue;
    DUET_CHECK(prev == nullptr || e.begin >= prev->end, where, "key ", key_str(e.key),
               " (data_offsets ", json_offsets(e.begin, e.end), ") overlaps key ",
               key_str(prev->key), " (data_offsets ", json_offsets(prev->begin, prev->end),
               "); expected disjoint byte ranges");
    const uint64_t expected = prev ? prev->end : 0;
    DUET_CHECK(e.begin == expected, where, "key ", key_str(e.key), " (data_offsets ",
               json_offsets(e.begin, e.end), ") leaves bytes [", expected, ", ", e.begin,
               ") of the data buffer unused (expected the tensors to follow each other)");
    prev = &e;
  }
  const uint64_t used = prev ? prev->end : 0;
  DUET_CHECK(used == h.data_size, where, "the data buffer holds ", h.data_size,
             " bytes but the tensors use ", used, " (", h.data_size - used,
             " bytes of trailing data after the last tensor)");
  return h;
}

Tensor read_entry(FileSource& f, const Header& h, const Entry& e) {
  const FileDtype& fd = *e.dtype;
  Tensor t = Tensor::empty(e.shape, fd.dtype);  // bytes checked against the file in read_header
  const uint64_t bytes = e.end - e.begin;
  if (bytes == 0) return t;
  const size_t count = bytes / fd.itemsize;
  const std::string what = "key " + key_str(e.key) + ": its data";
  // F16 and BF16 keep their dtype: the file's bits are the tensor's (float16, bfloat16).
  f.read_at(h.data_start + e.begin, t.data_ptr(), bytes, what.c_str());
  swap_if_big_endian(t.data_ptr(), fd.itemsize, count);
  if (fd.dtype == DType::bool_) {  // any non-zero byte is true
    auto* p = static_cast<unsigned char*>(t.data_ptr());
    for (size_t i = 0; i < count; ++i) p[i] = p[i] != 0;
  }
  return t;
}

}  // namespace

nn::StateDict load_safetensors(const std::string& path) {
  const std::string where = where_of("load_safetensors", path);
  FileSource f(path, where, "a safetensors file");
  const Header h = read_header(f, where);
  nn::StateDict out;
  out.reserve(h.entries.size());
  for (const Entry& e : h.entries) out.emplace_back(e.key, read_entry(f, h, e));
  return out;
}

SafetensorsFile load_safetensors_file(const std::string& path) {
  const std::string where = where_of("load_safetensors", path);
  FileSource f(path, where, "a safetensors file");
  const Header h = read_header(f, where);
  SafetensorsFile out;
  out.metadata = h.metadata;
  out.tensors.reserve(h.entries.size());
  for (const Entry& e : h.entries) out.tensors.emplace_back(e.key, read_entry(f, h, e));
  return out;
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  const std::string where = where_of("load_safetensors_metadata", path);
  FileSource f(path, where, "a safetensors file");
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

  // A crash at any point leaves the previous file at `path` or the complete new one.
  SafeWriter out(path, where);
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(text.size() >> (8 * i));
  out.write(len_bytes, 8);
  out.write(text.data(), text.size());
  for (const Tensor& c : data) {
    const size_t item = dtype_size(c.dtype()), n = static_cast<size_t>(c.numel());
    if (n == 0) continue;
    if constexpr (std::endian::native == std::endian::little) {
      out.write(c.data_ptr(), n * item);
    } else {
      std::vector<char> buf(static_cast<const char*>(c.data_ptr()),
                            static_cast<const char*>(c.data_ptr()) + n * item);
      swap_if_big_endian(buf.data(), item, n);
      out.write(buf.data(), buf.size());
    }
  }
  out.commit();
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
