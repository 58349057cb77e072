// The rendezvous store's wire format and its server loop (store_protocol.h).
#include "distributed/store_protocol.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>

namespace duet::distributed::detail {

bool store_read_exact(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r == 0) return false;
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool store_write_all(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void store_put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool store_read_u32(int fd, uint32_t* v) {
  unsigned char b[4];
  if (!store_read_exact(fd, b, 4)) return false;
  *v = uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
  return true;
}

bool store_read_blob(int fd, size_t limit, std::string* out) {
  uint32_t n = 0;
  if (!store_read_u32(fd, &n) || n > limit) return false;
  out->resize(n);
  return n == 0 || store_read_exact(fd, out->data(), n);
}

bool StoreTable::put(const std::string& key, const std::vector<char>& value) {
  if (key.size() > kStoreMaxKeyBytes || value.size() > kStoreMaxValueBytes) return false;
  std::lock_guard<std::mutex> lock(mu);
  auto it = map.find(key);
  const size_t old = it == map.end() ? 0 : it->first.size() + it->second.size();
  const size_t add = key.size() + value.size();
  if (bytes - old + add > kStoreMaxBytes) return false;
  bytes = bytes - old + add;
  map[key] = value;
  changed.notify_all();
  return true;
}

std::optional<std::vector<char>> StoreTable::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

void serve_store_connection(int fd, StoreTable& table, const std::atomic<bool>& stop) {
  char hello[sizeof(kStoreHello)];
  bool ok = store_read_exact(fd, hello, sizeof(hello)) &&
            std::memcmp(hello, kStoreHello, sizeof(hello)) == 0;
  while (ok && !stop.load()) {
    char op = 0;
    std::string key, value;
    // An unknown request is refused before its key is read.
    if (!store_read_exact(fd, &op, 1) || (op != 'S' && op != 'G')) break;
    if (!store_read_blob(fd, kStoreMaxKeyBytes, &key)) break;
    if (op == 'S') {
      if (!store_read_blob(fd, kStoreMaxValueBytes, &value)) break;
      const char ack = table.put(key, std::vector<char>(value.begin(), value.end())) ? 1 : 0;
      ok = store_write_all(fd, &ack, 1);
    } else {
      std::optional<std::vector<char>> v = table.find(key);
      std::string reply(1, v ? 1 : 0);
      if (v) {
        store_put_u32(reply, static_cast<uint32_t>(v->size()));
        reply.append(v->data(), v->size());
      }
      ok = store_write_all(fd, reply.data(), reply.size());
    }
  }
}

}  // namespace duet::distributed::detail
