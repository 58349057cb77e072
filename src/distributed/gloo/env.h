// The launch environment of a Gloo (or Gloo-bootstrapped NCCL) process: PyTorch's variables.
//
//   RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 ./trainer
//   GlooEnv env = read_gloo_env();   // {.rank = 1, .world_size = 2, ...}
//
// Optional: LOCAL_RANK (else the ranks count who shares their host name through the store),
// GLOO_SOCKET_IFNAME (the interface Gloo's pairs listen on; else the address this host uses
// to reach MASTER_ADDR).
#pragma once

#include <string>

namespace duet::distributed::gloo_engine {

struct GlooEnv {
  int rank = 0;
  int world_size = 1;
  std::string master_addr;
  int master_port = 0;
  int local_rank = -1;  // -1: not set (LOCAL_RANK)
  std::string iface;    // GLOO_SOCKET_IFNAME, "" when not set
};

// Throws duet::Error naming every missing or invalid variable and what it should hold.
GlooEnv read_gloo_env();

// The numeric address (IPv4 or IPv6) of this host's interface that routes to host:port
// ("127.0.0.1" for a loopback MASTER_ADDR); "" when there is none.
std::string local_address_towards(const std::string& host, int port);

}  // namespace duet::distributed::gloo_engine
