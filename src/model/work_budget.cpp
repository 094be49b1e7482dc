#include "model/work_budget.h"

#include <algorithm>

namespace samcache {

WorkBudget::Lease& WorkBudget::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = other.budget_;
    units_ = other.units_;
    other.budget_ = nullptr;
  }
  return *this;
}

void WorkBudget::Lease::Release() {
  if (budget_ != nullptr) budget_->Give(units_);
  budget_ = nullptr;
}

Result<WorkBudget::Lease> WorkBudget::Acquire(uint64_t units, const std::function<bool()>& cancelled,
                                              std::chrono::milliseconds poll) {
  std::unique_lock lock(mu_);
  if (capacity_ != 0) units = std::min(units, capacity_);
  const uint64_t ticket = next_ticket_++;
  waiting_.push_back(ticket);
  auto ready = [&] { return waiting_.front() == ticket && (capacity_ == 0 || in_use_ + units <= capacity_); };
  bool counted = false;
  while (!ready()) {
    if (!counted) ++waited_;
    counted = true;
    if (!cancelled) {
      cv_.wait(lock);
      continue;
    }
    cv_.wait_for(lock, poll);
    if (ready()) break;
    // The probe may be slow (it can look at a socket): not under the lock.
    lock.unlock();
    const bool gone = cancelled();
    lock.lock();
    if (gone && !ready()) {
      waiting_.remove(ticket);
      cv_.notify_all();  // the next in line may be the front now
      return Status::Unavailable("the client went away");
    }
  }
  waiting_.pop_front();
  in_use_ += units;
  peak_ = std::max(peak_, in_use_);
  cv_.notify_all();  // the next in line may fit too
  return Lease(this, units);
}

void WorkBudget::Give(uint64_t units) {
  {
    std::lock_guard lock(mu_);
    in_use_ -= units;
  }
  cv_.notify_all();
}

uint64_t WorkBudget::in_use() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

uint64_t WorkBudget::peak() const {
  std::lock_guard lock(mu_);
  return peak_;
}

uint64_t WorkBudget::waited() const {
  std::lock_guard lock(mu_);
  return waited_;
}

}  // namespace samcache
