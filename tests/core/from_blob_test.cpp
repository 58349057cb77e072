// Tensor::from_blob: zero copy over user memory, the deleter called once when the last
// tensor or view on it dies, strides, and checked errors (the deleter is not called on error).
#include "duet/ops.h"
#include "test_util.h"

using namespace duet;

TEST(FromBlob, ZeroCopyAndDeleterAfterTheLastView) {
  float* buf = new float[6]{1, 2, 3, 4, 5, 6};
  int deleted = 0;
  Tensor view;
  {
    Tensor t = Tensor::from_blob(buf, {2, 3}, float32, [&](void* p) {
      ++deleted;
      delete[] static_cast<float*>(p);
    });
    EXPECT_EQ(t.data_ptr(), buf);
    EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
    buf[4] = 50;  // the tensor sees the user's writes ...
    EXPECT_EQ(t.to_vector<float>()[4], 50.0f);
    t.fill_(0.5);  // ... and the user sees the tensor's
    EXPECT_EQ(buf[0], 0.5f);
    view = t.transpose(0, 1);
    Tensor y = mul(t, t);  // ops read it like any tensor
    EXPECT_EQ(y.to_vector<float>()[0], 0.25f);
  }
  EXPECT_EQ(deleted, 0);  // the transposed view keeps the memory alive
  EXPECT_EQ(view.shape(), (Shape{3, 2}));
  view = Tensor();
  EXPECT_EQ(deleted, 1);
}

TEST(FromBlob, StridesAndNoDeleter) {
  int64_t data[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  // Every other element of each row of a (2, 4) block: (2, 2) with strides (4, 2).
  Tensor t = Tensor::from_blob(data, {2, 2}, int64, {}, {4, 2});
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{0, 2, 4, 6}));
  // Broadcast rows with a zero stride; an empty tensor over a null pointer is fine.
  Tensor b = Tensor::from_blob(data, {3, 2}, int64, {}, {0, 1});
  EXPECT_EQ(b.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(Tensor::from_blob(nullptr, {0, 5}).numel(), 0);
  // Autograd works on it as on any leaf.
  double w[2] = {2.0, 3.0};
  Tensor x = Tensor::from_blob(w, {2}, float64).requires_grad_();
  sum(mul(x, x)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4.0, 6.0}));
}

TEST(FromBlob, Errors) {
  int deleted = 0;
  auto deleter = [&](void*) { ++deleted; };
  float f = 0;
  EXPECT_DUET_ERROR(Tensor::from_blob(nullptr, {2, 3}, float32, deleter), "from_blob",
                    "data is null", "24 bytes");
  EXPECT_DUET_ERROR(Tensor::from_blob(&f, {-1, 3}, float32, deleter), "from_blob", "(-1, 3)");
  EXPECT_DUET_ERROR(Tensor::from_blob(&f, {int64_t{1} << 40, int64_t{1} << 40}, float32, deleter),
                    "from_blob");
  EXPECT_DUET_ERROR(Tensor::from_blob(&f, {2, 3}, float32, deleter, {1}), "from_blob",
                    "one stride per dimension");
  EXPECT_DUET_ERROR(Tensor::from_blob(&f, {2, 3}, float32, deleter, {3, -1}), "from_blob",
                    "stride -1");
  EXPECT_DUET_ERROR(
      Tensor::from_blob(&f, {3, 3}, float32, deleter, {int64_t{1} << 62, int64_t{1} << 62}),
      "from_blob", "overflows");
  EXPECT_EQ(deleted, 0);  // the memory stays the caller's
}
