// duet::onnx in a libduet built without protobuf (cmake/duet_onnx.cmake): every entry point
// throws duet::Error saying what to install, so programs still link and report it clearly.
#include "duet/error.h"
#include "duet/onnx.h"

namespace duet::onnx {
namespace {
[[noreturn]] void unavailable(const char* what) {
  throw Error(std::string("onnx: ") + what +
              ": this libduet was built without ONNX support (install libprotobuf-dev, "
              "protobuf-compiler and libonnx-dev, then configure again with -DDUET_ONNX=ON)");
}
}  // namespace

struct Model::Impl {};

bool available() {
  return false;
}
void export_model(const Graph&, const std::vector<Tensor>&, const std::string&,
                  const ExportOptions&) {
  unavailable("export_model");
}
void export_model(nn::Module&, const std::vector<Tensor>&, const std::string&,
                  const ExportOptions&) {
  unavailable("export_model");
}
std::shared_ptr<Model> load(const std::string&, const LoadOptions&) {
  unavailable("load");
}
std::shared_ptr<Model> load_from_memory(const void*, size_t, const std::string&,
                                        const LoadOptions&) {
  unavailable("load_from_memory");
}
Tensor load_tensor(const std::string&) {
  unavailable("load_tensor");
}
void save_tensor(const Tensor&, const std::string&, const std::string&) {
  unavailable("save_tensor");
}
std::vector<std::string> supported_operators() {
  return {};
}

Model::Model(std::shared_ptr<Impl> impl) : nn::Module("onnx::Model"), impl_(std::move(impl)) {}
Model::~Model() = default;
std::vector<Tensor> Model::forward_many(const std::vector<Tensor>&) {
  unavailable("Model::forward_many");
}
const std::vector<ValueInfo>& Model::inputs() const {
  unavailable("Model::inputs");
}
const std::vector<ValueInfo>& Model::outputs() const {
  unavailable("Model::outputs");
}
std::vector<Tensor> Model::run(const std::map<std::string, Tensor>&) {
  unavailable("Model::run");
}
const std::map<std::string, Tensor>& Model::initializers() const {
  unavailable("Model::initializers");
}
int64_t Model::opset() const {
  unavailable("Model::opset");
}
int64_t Model::ir_version() const {
  unavailable("Model::ir_version");
}
const std::string& Model::producer_name() const {
  unavailable("Model::producer_name");
}
const std::string& Model::path() const {
  unavailable("Model::path");
}
std::map<std::string, int64_t> Model::operator_counts() const {
  unavailable("Model::operator_counts");
}
Executable Model::compile(const std::vector<Shape>&, const CompileOptions&) {
  unavailable("Model::compile");
}

}  // namespace duet::onnx
