// Weight files (duet::io): safetensors load/save and module weight helpers.
//
//   #include <duet/io.h>
//   duet::io::save_weights(*net, "net.safetensors");
//   duet::io::load_weights(*net, "net.safetensors");   // strict, all-or-nothing
//   duet::nn::StateDict sd = duet::io::load_safetensors("resnet18.safetensors");
#pragma once

#include "duet/io/safetensors.h"
