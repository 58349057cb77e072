// read_gloo_env and local_address_towards (env.h).
#include "distributed/gloo/env.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <vector>

#include "duet/error.h"

namespace duet::distributed::gloo_engine {
namespace {

// The variable as an integer in [lo, hi]; records a problem otherwise.
bool read_int(const char* name, long lo, long hi, int* out, std::vector<std::string>* missing,
              std::vector<std::string>* invalid) {
  const char* s = std::getenv(name);
  if (s == nullptr || *s == '\0') {
    if (missing) missing->push_back(name);
    return false;
  }
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
    invalid->push_back(
        ::duet::detail::cat(name, "=\"", s, "\" (expected an integer in ", lo, "..", hi, ")"));
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

}  // namespace

GlooEnv read_gloo_env() {
  GlooEnv env;
  std::vector<std::string> missing, invalid;
  bool have_rank = read_int("RANK", 0, INT_MAX - 1, &env.rank, &missing, &invalid);
  bool have_size = read_int("WORLD_SIZE", 1, INT_MAX, &env.world_size, &missing, &invalid);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a)
    env.master_addr = a;
  else
    missing.push_back("MASTER_ADDR");
  read_int("MASTER_PORT", 1, 65535, &env.master_port, &missing, &invalid);
  if (have_rank && have_size && env.rank >= env.world_size)
    invalid.push_back(::duet::detail::cat("RANK=", env.rank, " (expected 0..WORLD_SIZE-1 = 0..",
                                          env.world_size - 1, ")"));
  if (!read_int("LOCAL_RANK", 0, INT_MAX - 1, &env.local_rank, nullptr, &invalid))
    env.local_rank = -1;
  if (const char* i = std::getenv("GLOO_SOCKET_IFNAME"); i && *i) env.iface = i;
  if (missing.empty() && invalid.empty()) return env;
  std::string msg =
      "distributed: the gloo backend reads RANK, WORLD_SIZE, MASTER_ADDR and "
      "MASTER_PORT (as torchrun sets them)";
  if (!missing.empty()) {
    msg += "; not set:";
    for (const auto& m : missing) msg += " " + m;
  }
  if (!invalid.empty()) {
    msg += "; invalid:";
    for (size_t i = 0; i < invalid.size(); ++i) msg += (i ? ", " : " ") + invalid[i];
  }
  msg += "; e.g. RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 on rank 0";
  throw Error(msg);
}

std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &list) != 0 || !list) return "";
  std::string out;
  for (const addrinfo* a = list; a && out.empty(); a = a->ai_next) {
    // A UDP "connect" sends nothing: it only picks the route and so the local address.
    int fd = ::socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* src =
          local.ss_family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&local)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&local)->sin6_addr);
      if (inet_ntop(local.ss_family, src, buf, sizeof(buf))) out = buf;
    }
    ::close(fd);
  }
  freeaddrinfo(list);
  return out;
}

}  // namespace duet::distributed::gloo_engine
