// The key-value store the Gloo ranks meet through (gloo::rendezvous::Store over TCP), from
// PyTorch's variables: rank 0 serves it on MASTER_ADDR:MASTER_PORT, the other ranks connect.
//
//   TcpStore store({.host = "127.0.0.1", .port = 29500, .server = rank == 0,
//                   .world_size = 2, .timeout = std::chrono::seconds(30)});
//   gloo::rendezvous::Context ctx(rank, 2);
//   ctx.connectFullMesh(store, device);   // set("0", addresses), wait({"1"}), get("1")
//
// The server takes every byte from the network as hostile: a connection first sends the
// 8-byte hello "DUETKV01"; every message is length-prefixed and bounded (keys <= 1 KiB,
// values <= 16 MiB, the whole store <= 256 MiB, at most 2 * world_size + 8 connections);
// anything else closes that connection. Every wait (connect, get, wait) ends at the timeout
// with a duet::Error naming the store's address, the key and the rank it belongs to.
// Only meant for the rendezvous: the Gloo plugin drops the store once the ranks are connected.
#pragma once

#include <gloo/rendezvous/store.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/store_protocol.h"

namespace duet::distributed::gloo_engine {

// The limits of the wire format (src/distributed/store_protocol.h).
inline constexpr size_t kMaxKeyBytes = detail::kStoreMaxKeyBytes;
inline constexpr size_t kMaxValueBytes = detail::kStoreMaxValueBytes;
inline constexpr size_t kMaxStoreBytes = detail::kStoreMaxBytes;

struct TcpStoreOptions {
  std::string host;     // MASTER_ADDR
  int port = 0;         // MASTER_PORT
  bool server = false;  // rank 0 serves
  int world_size = 1;
  std::chrono::milliseconds timeout{30000};
};

class TcpStore : public ::gloo::rendezvous::Store {
 public:
  // server: binds host:port (throws duet::Error when it cannot); otherwise connects, retrying
  // until options.timeout.
  explicit TcpStore(const TcpStoreOptions& options);
  ~TcpStore() override;
  TcpStore(const TcpStore&) = delete;
  TcpStore& operator=(const TcpStore&) = delete;

  void set(const std::string& key, const std::vector<char>& data) override;
  // Waits (up to the timeout) for the key.
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

  // "127.0.0.1:29500"
  std::string address() const;

 private:
  struct Server;
  struct Client;
  TcpStoreOptions options_;
  std::unique_ptr<Server> server_;  // rank 0 (reads and writes its map directly)
  std::unique_ptr<Client> client_;  // the other ranks
};

}  // namespace duet::distributed::gloo_engine
