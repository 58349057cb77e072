// The Gloo rendezvous store over TCP (tcp_store.h). The wire format and the server's loop are
// in libduet (src/distributed/store_protocol.h), where the fuzz target reaches them.
// The client polls get until the key is there or its timeout passed.
#include "distributed/gloo/tcp_store.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "distributed/store_protocol.h"
#include "duet/error.h"

namespace duet::distributed::gloo_engine {
namespace {

using Clock = std::chrono::steady_clock;
std::string seconds_str(std::chrono::milliseconds ms) {
  std::ostringstream os;
  os << static_cast<double>(ms.count()) / 1000.0 << " s";
  return os.str();
}

// What a key is for, in errors: gloo's keys are the ranks ("1": rank 1's addresses).
std::string describe_key(const std::string& key) {
  if (!key.empty() && key.size() < 10 &&
      std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "rank " + key + " to register its address (key \"" + key + "\")";
  return "key \"" + key + "\"";
}

using detail::store_put_u32;
using detail::store_read_blob;
using detail::store_read_exact;
using detail::store_write_all;
using detail::StoreTable;

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) freeaddrinfo(list);
  }
};

// Resolves host:port; throws naming the variables.
void resolve(const std::string& host, int port, AddrInfo* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &out->list);
  DUET_CHECK(rc == 0 && out->list, "gloo rendezvous: cannot resolve MASTER_ADDR=\"", host, "\" (",
             gai_strerror(rc), "); expected a host name or address of rank 0's host");
}

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// One non-blocking connect attempt bounded by `budget`; the socket (blocking again) or -1.
int try_connect(const addrinfo* ai, std::chrono::milliseconds budget) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) return -1;
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, budget.count())));
    int err = 0;
    socklen_t len = sizeof(err);
    if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
      rc = 0;
    else
      rc = -1;
  }
  if (rc != 0) {
    ::close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, flags);
  return fd;
}

}  // namespace

// ---- rank 0: the map and the threads serving it ------------------------------------------
struct TcpStore::Server {
  StoreTable table;
  std::mutex mu;  // guards the connection bookkeeping below
  int listen_fd = -1;
  int max_connections = 8;
  std::atomic<bool> stop{false};
  std::thread acceptor;
  std::vector<std::thread> handlers;  // guarded by mu
  std::vector<int> fds;               // open connections, guarded by mu
  int accepted = 0;

  void serve(int fd) {
    detail::serve_store_connection(fd, table, stop);
    std::lock_guard<std::mutex> lock(mu);
    auto it = std::find(fds.begin(), fds.end(), fd);
    if (it != fds.end()) {
      fds.erase(it);
      ::close(fd);
    }
  }

  void accept_loop() {
    while (!stop.load()) {
      pollfd p{listen_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard<std::mutex> lock(mu);
      if (accepted >= max_connections || stop.load()) {
        ::close(fd);  // more connections than ranks: refused
        continue;
      }
      ++accepted;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      fds.push_back(fd);
      handlers.emplace_back([this, fd] { serve(fd); });
    }
  }

  ~Server() {
    stop.store(true);
    if (acceptor.joinable()) acceptor.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (int fd : fds) ::shutdown(fd, SHUT_RDWR);  // wakes the handlers' recv
      threads.swap(handlers);
    }
    for (auto& t : threads) t.join();
    if (listen_fd >= 0) ::close(listen_fd);
  }
};

// ---- the other ranks: one connection ------------------------------------------------------
struct TcpStore::Client {
  int fd = -1;
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
};

TcpStore::TcpStore(const TcpStoreOptions& options) : options_(options) {
  DUET_CHECK(options.port > 0 && options.port < 65536,
             "gloo rendezvous: MASTER_PORT=", options.port,
             " is not a TCP port; expected 1..65535");
  AddrInfo ai;
  resolve(options.host, options.port, &ai);
  if (options.server) {
    server_ = std::make_unique<Server>();
    server_->max_connections = 2 * options.world_size + 8;
    int last_errno = 0;
    for (const addrinfo* a = ai.list; a; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
        server_->listen_fd = fd;
        break;
      }
      last_errno = errno;
      ::close(fd);
    }
    DUET_CHECK(server_->listen_fd >= 0, "gloo rendezvous: rank 0 cannot listen on ", address(),
               " (", std::strerror(last_errno), "); expected MASTER_ADDR to be an address of ",
               "rank 0's host and MASTER_PORT a free port");
    server_->acceptor = std::thread([s = server_.get()] { s->accept_loop(); });
    return;
  }
  client_ = std::make_unique<Client>();
  const auto deadline = Clock::now() + options.timeout;
  while (client_->fd < 0) {
    for (const addrinfo* a = ai.list; a && client_->fd < 0; a = a->ai_next) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      client_->fd = try_connect(
          a, std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(1000)));
    }
    if (client_->fd >= 0) break;
    DUET_CHECK(Clock::now() < deadline, "gloo rendezvous: could not reach rank 0's store at ",
               address(), " within ", seconds_str(options.timeout),
               "; expected rank 0 to be running with the same MASTER_ADDR and MASTER_PORT");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  set_timeouts(client_->fd, options.timeout);
  DUET_CHECK(store_write_all(client_->fd, detail::kStoreHello, sizeof(detail::kStoreHello)),
             "gloo rendezvous: lost the connection to rank 0's store at ", address());
}

TcpStore::~TcpStore() = default;

std::string TcpStore::address() const {
  return options_.host + ":" + std::to_string(options_.port);
}

void TcpStore::set(const std::string& key, const std::vector<char>& data) {
  DUET_CHECK(key.size() <= kMaxKeyBytes && data.size() <= kMaxValueBytes,
             "gloo rendezvous: set of key \"", key.substr(0, 64), "\" (", data.size(),
             " bytes) is over the store's limits (key <= ", kMaxKeyBytes,
             " bytes, value <= ", kMaxValueBytes, " bytes)");
  if (server_) {
    DUET_CHECK(server_->table.put(key, data), "gloo rendezvous: the store is full (",
               kMaxStoreBytes, " bytes) at key \"", key, "\"");
    return;
  }
  std::string msg(1, 'S');
  store_put_u32(msg, static_cast<uint32_t>(key.size()));
  msg += key;
  store_put_u32(msg, static_cast<uint32_t>(data.size()));
  msg.append(data.data(), data.size());
  char ack = 0;
  DUET_CHECK(store_write_all(client_->fd, msg.data(), msg.size()) &&
                 store_read_exact(client_->fd, &ack, 1),
             "gloo rendezvous: lost the connection to rank 0's store at ", address(),
             " while setting key \"", key, "\" (did rank 0 exit?)");
  DUET_CHECK(ack == 1, "gloo rendezvous: rank 0's store at ", address(), " refused key \"", key,
             "\" (over its limits)");
}

namespace {
// One look at the store: the value or nothing yet.
std::optional<std::vector<char>> get_once(int fd, const std::string& key,
                                          const std::string& address) {
  std::string msg(1, 'G');
  store_put_u32(msg, static_cast<uint32_t>(key.size()));
  msg += key;
  char found = 0;
  bool ok = store_write_all(fd, msg.data(), msg.size()) && store_read_exact(fd, &found, 1);
  std::string value;
  if (ok && found == 1) ok = store_read_blob(fd, kMaxValueBytes, &value);
  DUET_CHECK(ok && (found == 0 || found == 1), "gloo rendezvous: lost the connection to rank 0's ",
             "store at ", address, " while reading key \"", key, "\" (did rank 0 exit?)");
  if (found == 0) return std::nullopt;
  return std::vector<char>(value.begin(), value.end());
}
}  // namespace

void TcpStore::wait(const std::vector<std::string>& keys,
                    const std::chrono::milliseconds& timeout) {
  const auto deadline = Clock::now() + timeout;
  for (const auto& key : keys) {
    auto sleep = std::chrono::milliseconds(2);
    while (true) {
      if (server_) {
        StoreTable& t = server_->table;
        std::unique_lock<std::mutex> lock(t.mu);
        if (t.changed.wait_until(lock, deadline, [&] { return t.map.count(key) != 0; })) break;
      } else if (get_once(client_->fd, key, address())) {
        break;
      }
      DUET_CHECK(Clock::now() < deadline, "gloo rendezvous: waited ", seconds_str(timeout), " for ",
                 describe_key(key), " at the store on ", address(),
                 "; expected all WORLD_SIZE=", options_.world_size,
                 " ranks to start with the same MASTER_ADDR and MASTER_PORT");
      std::this_thread::sleep_for(sleep);
      sleep = std::min(sleep * 2, std::chrono::milliseconds(50));
    }
  }
}

void TcpStore::wait(const std::vector<std::string>& keys) {
  wait(keys, options_.timeout);
}

std::vector<char> TcpStore::get(const std::string& key) {
  wait({key}, options_.timeout);
  if (server_) return *server_->table.find(key);
  auto v = get_once(client_->fd, key, address());
  DUET_CHECK(v.has_value(), "gloo rendezvous: key \"", key, "\" vanished from the store");
  return *v;
}

}  // namespace duet::distributed::gloo_engine
