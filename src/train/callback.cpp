// Logs and History (duet/train/callback.h).
#include "duet/train/callback.h"

#include <sstream>

#include "duet/error.h"

namespace duet::train {

void Logs::set(const std::string& name, double value) {
  for (auto& [key, v] : items_)
    if (key == name) {
      v = value;
      return;
    }
  items_.emplace_back(name, value);
}

bool Logs::contains(const std::string& name) const { return get(name).has_value(); }

std::optional<double> Logs::get(const std::string& name) const {
  for (const auto& [key, v] : items_)
    if (key == name) return v;
  return std::nullopt;
}

double Logs::at(const std::string& name) const {
  if (auto v = get(name)) return *v;
  std::string keys;
  for (const auto& [key, v] : items_) keys += (keys.empty() ? "" : ", ") + key;
  throw Error(detail::cat("Logs: no value named '", name, "' (the logs hold: ",
                          keys.empty() ? "nothing" : keys, ")"));
}

std::string Logs::str() const {
  std::ostringstream os;
  for (size_t i = 0; i < items_.size(); ++i)
    os << (i ? " - " : "") << items_[i].first << " " << items_[i].second;
  return os.str();
}

std::vector<double> History::values(const std::string& name) const {
  std::vector<double> r;
  r.reserve(epochs.size());
  for (size_t e = 0; e < epochs.size(); ++e) {
    auto v = epochs[e].get(name);
    DUET_CHECK(v.has_value(), "History: epoch ", e, " has no value named '", name,
               "' (it holds: ", epochs[e].str(), ")");
    r.push_back(*v);
  }
  return r;
}

}  // namespace duet::train
