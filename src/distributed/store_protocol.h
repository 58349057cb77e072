// The wire format of the rendezvous key-value store (the Gloo engine's TcpStore,
// src/distributed/gloo/tcp_store.h), in libduet so that the fuzz target (fuzz/fuzz_store.cpp)
// drives the same server code the plugin runs.
//
// Integers little-endian:
//   connection: the client sends the 8 bytes "DUETKV01" once
//   set:  'S' u32 key_len key u32 value_len value  -> u8 1 (stored) or 0 (over a limit)
//   get:  'G' u32 key_len key                      -> u8 0 (absent) or u8 1 u32 len value
// Every byte from the network is hostile: lengths are bounded before anything is allocated,
// and anything else closes the connection.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace duet::distributed::detail {

inline constexpr char kStoreHello[8] = {'D', 'U', 'E', 'T', 'K', 'V', '0', '1'};
inline constexpr size_t kStoreMaxKeyBytes = 1024;
inline constexpr size_t kStoreMaxValueBytes = size_t{16} << 20;
inline constexpr size_t kStoreMaxBytes = size_t{256} << 20;  // keys + values of the whole store

// Socket I/O (EINTR retried). False when the peer closed or the call failed.
bool store_read_exact(int fd, void* buf, size_t n);
bool store_write_all(int fd, const void* buf, size_t n);
void store_put_u32(std::string& out, uint32_t v);
bool store_read_u32(int fd, uint32_t* v);
// A length-prefixed string of at most `limit` bytes (a longer length: false, nothing read).
bool store_read_blob(int fd, size_t limit, std::string* out);

// The server's map, bounded by the limits above. `changed` is notified on every put.
struct StoreTable {
  std::mutex mu;
  std::condition_variable changed;
  std::map<std::string, std::vector<char>> map;  // guarded by mu
  size_t bytes = 0;                              // keys + values, guarded by mu

  bool put(const std::string& key, const std::vector<char>& value);  // false over a limit
  std::optional<std::vector<char>> find(const std::string& key);
};

// Serves one connection's requests against `table`: the hello, then set/get until the peer
// closes, breaks the protocol, a reply cannot be sent, or `stop` is set.
void serve_store_connection(int fd, StoreTable& table, const std::atomic<bool>& stop);

}  // namespace duet::distributed::detail
