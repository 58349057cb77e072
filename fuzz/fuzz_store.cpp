// libFuzzer target: the rendezvous store's server loop (src/distributed/store_protocol.h, the
// Gloo engine's TcpStore) on a hostile connection.
//
// The input is what a peer sends (at most 64 KiB), fed through a socket pair; the server
// serves it against a fresh table. Checks: the server never crashes or over-allocates, the
// table stays within its limits and its byte count matches its contents, and what it answered
// is a prefix of what a reference reading of the same bytes expects (a prefix: the server
// stops when a reply does not fit in the socket's buffer, which nobody reads meanwhile).
//
//   scripts/fuzz.sh fuzz_store 60
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "distributed/store_protocol.h"
#include "fuzz_util.h"

namespace {

namespace dd = duet::distributed::detail;

// The replies a correct server sends for `in`, read independently of the server's code.
std::string expected_replies(const uint8_t* in, size_t n) {
  std::string out;
  std::map<std::string, std::string> map;
  size_t bytes = 0;
  size_t at = 0;
  auto take = [&](size_t k) {
    if (n - at < k) return false;
    at += k;
    return true;
  };
  auto blob = [&](size_t limit, std::string* s) {
    if (n - at < 4) return false;
    const uint32_t len = uint32_t{in[at]} | (uint32_t{in[at + 1]} << 8) |
                         (uint32_t{in[at + 2]} << 16) | (uint32_t{in[at + 3]} << 24);
    at += 4;
    if (len > limit || n - at < len) return false;
    s->assign(reinterpret_cast<const char*>(in + at), len);
    at += len;
    return true;
  };
  if (n < sizeof(dd::kStoreHello) || std::memcmp(in, dd::kStoreHello, sizeof(dd::kStoreHello)))
    return out;
  at = sizeof(dd::kStoreHello);
  while (true) {
    const size_t op_at = at;
    if (!take(1)) break;
    const char op = static_cast<char>(in[op_at]);
    if (op != 'S' && op != 'G') break;
    std::string key, value;
    if (!blob(dd::kStoreMaxKeyBytes, &key)) break;
    if (op == 'S') {
      if (!blob(dd::kStoreMaxValueBytes, &value)) break;
      auto it = map.find(key);
      const size_t old = it == map.end() ? 0 : key.size() + it->second.size();
      const bool ok = bytes - old + key.size() + value.size() <= dd::kStoreMaxBytes;
      if (ok) {
        bytes = bytes - old + key.size() + value.size();
        map[key] = value;
      }
      out.push_back(ok ? 1 : 0);
    } else {
      auto it = map.find(key);
      out.push_back(it == map.end() ? 0 : 1);
      if (it != map.end()) {
        const uint32_t len = static_cast<uint32_t>(it->second.size());
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
        out += it->second;
      }
    }
  }
  return out;
}

}  // namespace

extern "C" int DUET_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  if (size > (size_t{64} << 10)) size = size_t{64} << 10;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    duet::fuzz::bug("fuzz_store", "socketpair failed");
  const int peer = fds[0], server = fds[1];
  // 64 KiB fits in the socket's buffer; the peer then hangs up its sending side.
  if (size > 0 && !dd::store_write_all(peer, data, size)) duet::fuzz::bug("fuzz_store", "write");
  shutdown(peer, SHUT_WR);
  // Replies nobody reads yet: a full buffer must end the connection, not block the server.
  fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK);

  dd::StoreTable table;
  std::atomic<bool> stop{false};
  duet::fuzz::expect_result_or_error("serve_store_connection",
                                     [&] { dd::serve_store_connection(server, table, stop); });
  close(server);

  size_t bytes = 0;
  for (const auto& [k, v] : table.map) {
    DUET_FUZZ_EXPECT(k.size() <= dd::kStoreMaxKeyBytes, "fuzz_store", "key over the limit");
    DUET_FUZZ_EXPECT(v.size() <= dd::kStoreMaxValueBytes, "fuzz_store", "value over the limit");
    bytes += k.size() + v.size();
  }
  DUET_FUZZ_EXPECT(bytes == table.bytes && bytes <= size, "fuzz_store",
                   "the table counts " + std::to_string(table.bytes) + " bytes but holds " +
                       std::to_string(bytes));

  std::string got;
  char buf[4096];
  for (ssize_t r; (r = read(peer, buf, sizeof(buf))) > 0;) got.append(buf, static_cast<size_t>(r));
  close(peer);
  const std::string want = expected_replies(data, size);
  DUET_FUZZ_EXPECT(got.size() <= want.size() && want.compare(0, got.size(), got) == 0, "fuzz_store",
                   "replies differ from the reference (" + std::to_string(got.size()) +
                       " bytes sent, " + std::to_string(want.size()) + " expected)");
  return 0;
}
