#include "server/admission.h"

namespace kiln::server {

Admission::Ticket& Admission::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = other.owner_;
    num_ = other.num_;
    other.owner_ = nullptr;
  }
  return *this;
}

void Admission::Ticket::release() {
  if (!owner_) return;
  std::lock_guard lock(owner_->mu_);
  owner_->in_flight_ -= num_;
  owner_ = nullptr;
}

std::optional<Admission::Ticket> Admission::try_admit(int64_t num_seqs) {
  std::lock_guard lock(mu_);
  // A lone request is always let in when nothing else is in flight, so one larger than the
  // whole bound reaches the engine's own checks (which explain what is wrong) instead of
  // being told to retry forever.
  if (in_flight_ > 0 && in_flight_ + num_seqs > capacity_) return std::nullopt;
  in_flight_ += num_seqs;
  return Ticket(this, num_seqs);
}

int64_t Admission::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

}  // namespace kiln::server
